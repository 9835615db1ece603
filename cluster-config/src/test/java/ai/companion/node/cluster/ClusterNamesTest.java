package ai.companion.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.node.NodeOptions;
import com.hazelcast.config.Config;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterNamesTest {

  @Test
  void nameIsDerivedStableAndNeverTheSecret() {
    String a = ClusterNames.fromSecret("correct horse battery staple");
    assertEquals(a, ClusterNames.fromSecret("correct horse battery staple"));
    assertNotEquals(a, ClusterNames.fromSecret("correct horse battery stapler"));
    assertTrue(a.matches("companion-[0-9a-f]{16}"), a);
    assertFalse(a.contains("horse"));
    assertEquals(ClusterNames.OPEN_CLUSTER_NAME, ClusterNames.fromSecret(null));
  }

  @Test
  void hazelcastConfigFollowsTheOptions() throws Exception {
    NodeOptions o = new NodeOptions().setClusterSecret("s").setClusterPort(5801)
        .setJoin(List.of("127.0.0.1:5901", "10.0.0.2"));
    Config c = HazelcastSetup.build(o, "n1", InetAddress.getByName("127.0.0.1"));
    assertEquals(ClusterNames.fromSecret("s"), c.getClusterName());
    assertEquals(5801, c.getNetworkConfig().getPort());
    assertFalse(c.getNetworkConfig().isPortAutoIncrement());
    assertTrue(c.getNetworkConfig().getJoin().getTcpIpConfig().isEnabled());
    assertEquals(List.of("127.0.0.1:5801", "127.0.0.1:5901", "10.0.0.2:5701"),
        c.getNetworkConfig().getJoin().getTcpIpConfig().getMembers());
    assertFalse(c.getNetworkConfig().getJoin().getMulticastConfig().isEnabled());
    assertEquals("false", c.getProperty("hazelcast.phone.home.enabled"));
    assertEquals("n1", c.getMemberAttributeConfig().getAttribute(HazelcastSetup.NODE_NAME_ATTRIBUTE));
    assertEquals(List.of("127.0.0.1"), List.copyOf(c.getNetworkConfig().getInterfaces().getInterfaces()));

    Config k = HazelcastSetup.build(new NodeOptions().setKubernetes(true), "k", InetAddress.getByName("127.0.0.1"));
    assertTrue(k.getNetworkConfig().getJoin().getKubernetesConfig().isEnabled());
    assertEquals(NodeOptions.DEFAULT_KUBERNETES_SERVICE_DNS,
        k.getNetworkConfig().getJoin().getKubernetesConfig().getProperty("service-dns"));
    assertFalse(k.getNetworkConfig().getJoin().getTcpIpConfig().isEnabled());

    Config m = HazelcastSetup.build(new NodeOptions().setMulticast(true), "m", InetAddress.getByName("127.0.0.1"));
    assertTrue(m.getNetworkConfig().getJoin().getMulticastConfig().isEnabled());
    assertFalse(m.getNetworkConfig().getJoin().getTcpIpConfig().isEnabled());
  }
}
