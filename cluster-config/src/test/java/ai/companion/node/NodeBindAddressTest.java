package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.companion.node.cluster.Cidr;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class NodeBindAddressTest {

  @Test
  void theWarmUpReachesAWildcardBindOnLoopbackAndAnyOtherBindWhereItIs() {
    assertEquals("127.0.0.1", Node.ownClientHost("0.0.0.0"));
    assertEquals("127.0.0.1", Node.ownClientHost("::"));
    assertEquals("127.0.0.1", Node.ownClientHost(null));
    assertEquals("10.42.0.7", Node.ownClientHost("10.42.0.7"));
    assertEquals("127.0.0.1", Node.ownClientHost("127.0.0.1"));
  }

  @Test
  void loopbackByDefaultAndForLoopbackMembers() {
    assertEquals("127.0.0.1", Node.bindAddress(new NodeOptions()).getHostAddress());
    assertEquals("127.0.0.1", Node.bindAddress(new NodeOptions().setJoin(List.of("127.0.0.1:5701"))).getHostAddress());
  }

  @Test
  void remoteMembersPickTheAddressThatReachesThem() {
    InetAddress external = Cidr.parse("0.0.0.0/0").localAddress().orElse(null);
    Assumptions.assumeTrue(external != null, "this machine has no network but loopback");
    // a member on the machine's own network: the route goes out of that network's interface
    InetAddress chosen = Node.bindAddress(new NodeOptions().setJoin(List.of(external.getHostAddress() + ":5701")));
    assertFalse(chosen.isLoopbackAddress(), chosen.toString());
  }

  @Test
  void anExplicitInterfaceWinsAndAMissingOneIsAClearError() {
    assertEquals("127.0.0.1", Node.bindAddress(new NodeOptions().setInterfaceCidr("127.0.0.0/8")
        .setJoin(List.of("203.0.113.9:5701"))).getHostAddress());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Node.bindAddress(new NodeOptions().setInterfaceCidr("203.0.113.0/24")));
    assertEquals(true, e.getMessage().contains("--interface"));
  }
}
