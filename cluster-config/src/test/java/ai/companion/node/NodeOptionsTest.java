package ai.companion.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

class NodeOptionsTest {

  @Test
  void defaultsAreTheEmbeddedNode() {
    NodeOptions o = new NodeOptions();
    assertEquals(NodeOptions.ALL_ROLES, List.copyOf(o.getRoles()));
    assertEquals(8080, o.getHttpPort());
    assertEquals(9090, o.getGrpcPort());
    assertEquals(5701, o.getClusterPort());
    assertEquals("127.0.0.1/32", o.getInterfaceCidr());
    assertEquals(System.getProperty("user.home") + "/.companion", o.getDataDir());
    assertFalse(o.isMulticast());
    assertTrue(o.getJoin().isEmpty());
  }

  @Test
  void jsonRoundTripKeepsEverySetting() {
    NodeOptions o = new NodeOptions().setRoles(List.of("worker", "router")).setHost("0.0.0.0").setHttpPort(0)
        .setGrpcPort(9191).setClusterPort(5801).setEventBusPort(5802).setJoin(List.of("10.0.0.1:5701", "10.0.0.2"))
        .setDataDir("/srv/companion").setNodeName("w-1").setClusterSecret("s3cret").setInterfaceCidr("10.0.0.0/24")
        .setMulticast(false).setKubernetes(true).setKubernetesServiceDns("x.y.svc.cluster.local").setTlsDir("/tls")
        .setTlsPassword("pw").setSeedPaths(List.of("/a/README.md")).setEmbeddingVariant("int8").setDecodeLanes(3)
        .setKnowledgeEmbeddingVariant("fp32")
        .setHttpEventLoops(2).setModelVariant("int4").setWarmUpStreams(300).setPromptCacheMb(7).setPrefillSliceMs(40).setPrefillFirstMs(250).setAffinitySlack(2);
    JsonObject json = o.toJson();
    assertEquals(300, new NodeOptions(json).getWarmUpStreams());
    assertEquals(3, new NodeOptions(json).getDecodeLanes());
    assertEquals(7, new NodeOptions(json).getPromptCacheMb());
    assertEquals(40, new NodeOptions(json).getPrefillSliceMs());
    assertEquals(250, new NodeOptions(json).getPrefillFirstMs());
    assertEquals(2, new NodeOptions(json).getAffinitySlack());
    assertEquals(json, new NodeOptions(json).toJson());
    assertEquals(json, new NodeOptions(o).toJson());
    assertEquals(List.of("worker", "router"), List.copyOf(new NodeOptions(json).getRoles()));
  }

  @Test
  void aNodeThatServesHttpGivesItsWorkerHalfTheCoresForDecodeLanes() {
    NodeOptions all = new NodeOptions().setRoles(List.of("gateway", "router", "worker"));
    NodeOptions worker = new NodeOptions().setRoles(List.of("worker"));
    assertEquals(1, Node.laneCores(all, 2));
    assertEquals(4, Node.laneCores(all, 8));
    assertEquals(1, Node.laneCores(all, 1));
    assertEquals(2, Node.laneCores(worker, 2));
    assertEquals(8, Node.laneCores(worker, 8));
  }

  @Test
  void secretsStayOutOfTheLoggableJson() {
    JsonObject j = new NodeOptions().setClusterSecret("s3cret").setTlsPassword("pw").toJson(false);
    assertFalse(j.encode().contains("s3cret"));
    assertFalse(j.encode().contains("pw\""));
  }

  @Test
  void nonsenseIsRejectedWithTheReason() {
    NodeOptions o = new NodeOptions();
    assertTrue(assertThrows(IllegalArgumentException.class, () -> o.setRoles(List.of("gateway", "chef")))
        .getMessage().contains("chef"));
    assertThrows(IllegalArgumentException.class, () -> o.setRoles(List.of()));
    assertThrows(IllegalArgumentException.class, () -> o.setHttpPort(70000));
    assertThrows(IllegalArgumentException.class, () -> o.setClusterPort(-1));
    assertThrows(IllegalArgumentException.class, () -> o.setJoin(List.of("host:port")));
    assertThrows(IllegalArgumentException.class, () -> o.setInterfaceCidr("10.0.0.0/33"));
    assertThrows(IllegalArgumentException.class, () -> o.setInterfaceCidr("eth0"));
    assertThrows(IllegalArgumentException.class, () -> o.setNodeName("no spaces"));
  }

  @Test
  void rolesAreTrimmedAndLowercased() {
    assertEquals(List.of("gateway", "worker"), List.copyOf(new NodeOptions().setRoles(List.of(" Gateway", "WORKER ", "")).getRoles()));
  }
}
