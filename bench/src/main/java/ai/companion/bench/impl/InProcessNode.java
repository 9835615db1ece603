package ai.companion.bench.impl;

import ai.companion.node.Node;
import ai.companion.node.NodeOptions;
import ai.companion.node.cluster.Ports;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A node started in this JVM exactly as {@code ./companion start} starts one (clustered Vert.x, one member, on
 * loopback), with the gateway, router and worker roles on a free HTTP port.
 */
public final class InProcessNode implements AutoCloseable {
  private static final Pattern HTTP = Pattern.compile("http=(\\d+)");

  private final Node node;
  private final int httpPort;

  private InProcessNode(Node node, int httpPort) {
    this.node = node;
    this.httpPort = httpPort;
  }

  /** Starts a node serving every model folder under {@code dataDir/models}. */
  public static InProcessNode start(Path dataDir) throws Exception {
    NodeOptions o = new NodeOptions().setRoles(List.of("gateway", "router", "worker")).setHttpPort(0)
        .setGrpcPort(Ports.free()).setClusterPort(Ports.free()).setDataDir(dataDir.toString())
        .setNodeName("bench-inprocess").setClusterSecret("bench-" + UUID.randomUUID())
        .setDecodeLanes(Integer.getInteger(Engine.DECODE_LANES, 0));
    Node node = Node.start(o).await(10, TimeUnit.MINUTES);
    Matcher m = HTTP.matcher(node.readyLineText());
    if (!m.find()) {
      node.close().await(30, TimeUnit.SECONDS);
      throw new IllegalStateException("no HTTP port in the READY line: " + node.readyLineText());
    }
    return new InProcessNode(node, Integer.parseInt(m.group(1)));
  }

  public int httpPort() { return httpPort; }

  public io.vertx.core.Vertx vertx() { return node.vertx(); }

  @Override public void close() throws Exception {
    node.close().await(60, TimeUnit.SECONDS);
  }
}
