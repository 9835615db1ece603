package ai.companion.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

class GatewayOptionsTest {

  @Test
  void defaultsAndJsonRoundTrip() {
    GatewayOptions d = new GatewayOptions();
    assertEquals("0.0.0.0", d.getHost());
    assertEquals(8080, d.getHttpPort());
    assertEquals(9090, d.getGrpcPort());
    GatewayOptions o = new GatewayOptions().setHttpPort(0).setNodeName("n1").setMaxBodyBytes(2048)
        .setRequestTimeoutMs(500).setMaxFailovers(0).setHttpEventLoops(3);
    assertEquals(o.toJson(), new GatewayOptions(o.toJson()).toJson());
    assertEquals(o.toJson(), new GatewayOptions(o).toJson());
    assertEquals(3, new GatewayOptions(o.toJson()).resolvedHttpEventLoops());
    // 0: one per core, at most eight
    assertEquals(Math.min(8, Runtime.getRuntime().availableProcessors()), d.resolvedHttpEventLoops());
    // unknown keys (the launcher passes its own, like dataDir) are ignored
    assertEquals(0, new GatewayOptions(new JsonObject().put("httpPort", 0).put("dataDir", "/x")).getHttpPort());
  }

  @Test
  void nonsenseIsRefusedAtOnce() {
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setHttpPort(70000));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setHost(" "));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setMaxBodyBytes(10));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setRequestTimeoutMs(0));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setMaxFailovers(-1));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions().setHttpEventLoops(-1));
    assertThrows(IllegalArgumentException.class, () -> new GatewayOptions(new JsonObject().put("httpPort", -1)));
  }
}
