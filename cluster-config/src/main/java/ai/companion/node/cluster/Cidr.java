package ai.companion.node.cluster;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.Collections;
import java.util.Optional;

/** An IPv4 or IPv6 network in CIDR notation, and the local address that lies inside it. */
public record Cidr(InetAddress network, int prefix) {

  public static Cidr parse(String text) {
    String t = text.trim();
    int slash = t.indexOf('/');
    String addr = slash < 0 ? t : t.substring(0, slash);
    if (!addr.matches("[0-9a-fA-F:.]+")) {
      throw new IllegalArgumentException("interface '" + text + "' is not a CIDR network like 10.0.0.0/24");
    }
    InetAddress a;
    try {
      a = InetAddress.getByName(addr); // a literal: no lookup happens
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("interface '" + text + "' is not a CIDR network like 10.0.0.0/24");
    }
    int max = a.getAddress().length * 8;
    int prefix;
    try {
      prefix = slash < 0 ? max : Integer.parseInt(t.substring(slash + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("interface '" + text + "' has a bad prefix length");
    }
    if (prefix < 0 || prefix > max) throw new IllegalArgumentException("interface '" + text + "' prefix must be 0.." + max);
    return new Cidr(a, prefix);
  }

  public boolean contains(InetAddress candidate) {
    byte[] n = network.getAddress();
    byte[] c = candidate.getAddress();
    if (n.length != c.length) return false;
    int bits = prefix;
    for (int i = 0; i < n.length && bits > 0; i++, bits -= 8) {
      int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((n[i] & mask) != (c[i] & mask)) return false;
    }
    return true;
  }

  /** The first address of an up interface inside this network (IPv4 first), if any. */
  public Optional<InetAddress> localAddress() {
    try {
      InetAddress v6 = null;
      for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        if (!ni.isUp()) continue;
        for (InetAddress a : Collections.list(ni.getInetAddresses())) {
          if (!contains(a)) continue;
          // 0.0.0.0/0 means "any real network", never loopback
          if (a.isLoopbackAddress() && !network.isLoopbackAddress()) continue;
          if (a instanceof Inet4Address) return Optional.of(a);
          if (v6 == null) v6 = a;
        }
      }
      return Optional.ofNullable(v6);
    } catch (SocketException e) {
      throw new IllegalStateException("cannot list the network interfaces: " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return network.getHostAddress() + "/" + prefix;
  }
}
