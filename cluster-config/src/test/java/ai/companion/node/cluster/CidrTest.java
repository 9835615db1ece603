package ai.companion.node.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class CidrTest {

  @Test
  void containsByPrefix() throws Exception {
    Cidr c = Cidr.parse("169.254.10.0/24");
    assertTrue(c.contains(InetAddress.getByName("169.254.10.7")));
    assertFalse(c.contains(InetAddress.getByName("169.254.11.7")));
    assertTrue(Cidr.parse("10.0.0.0/8").contains(InetAddress.getByName("10.200.3.4")));
    assertTrue(Cidr.parse("0.0.0.0/0").contains(InetAddress.getByName("8.8.8.8")));
    assertTrue(Cidr.parse("10.0.0.5").contains(InetAddress.getByName("10.0.0.5")));
    assertFalse(Cidr.parse("10.0.0.5").contains(InetAddress.getByName("10.0.0.6")));
    assertFalse(c.contains(InetAddress.getByName("::1")));
  }

  @Test
  void loopbackIsFoundAndNeverChosenForAnyNetwork() {
    assertEquals("127.0.0.1", Cidr.parse("127.0.0.1/32").localAddress().orElseThrow().getHostAddress());
    Cidr.parse("0.0.0.0/0").localAddress().ifPresent(a -> assertFalse(a.isLoopbackAddress()));
    assertTrue(Cidr.parse("203.0.113.0/24").localAddress().isEmpty()); // TEST-NET-3: not configured here
  }

  @Test
  void rejectsHostNamesAndBadPrefixes() {
    assertThrows(IllegalArgumentException.class, () -> Cidr.parse("example.com/24"));
    assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/40"));
    assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/x"));
  }
}
