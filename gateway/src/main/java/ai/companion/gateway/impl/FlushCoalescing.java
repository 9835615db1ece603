package ai.companion.gateway.impl;

import io.netty.channel.ChannelPipeline;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets the writes of one event-loop turn to a connection leave in one system call.
 *
 * <p>Vert.x flushes each write it makes outside a read, so every streamed token (an SSE chunk, a WebSocket
 * frame) cost a {@code writev} of its own: with 2000 streams that was a third of the gateway
 * loop's time, and as many wake-ups of each client. Netty's {@link FlushConsolidationHandler} (with
 * consolidation outside reads on) turns a flush into a task queued behind the work the loop already has: an idle
 * loop flushes at once, a loop that is behind sends everything a connection got meanwhile together. At most
 * {@link #FLUSH_AFTER} writes wait for one flush.
 *
 * <p>Installed on the HTTP server (REST, SSE, WebSocket), not on the gRPC one. This reaches into Vert.x's
 * connection class for the Netty pipeline (there is no public hook); where that is not possible the connection
 * simply keeps Vert.x's flush per write.
 */
public final class FlushCoalescing {
  private static final Logger LOG = LoggerFactory.getLogger(FlushCoalescing.class);
  private static final String NAME = "companion-flush-coalescing";
  private static final int FLUSH_AFTER = 64;
  private static volatile boolean warned;

  private FlushCoalescing() {}

  /** A {@code connectionHandler} for an HTTP server: adds the handler to the new connection's pipeline. */
  public static void install(HttpConnection connection) {
    if (!(connection instanceof ConnectionBase base)) {
      if (!warned) {
        warned = true;
        LOG.info("Connections of type {} keep a flush per write (no Netty pipeline reachable)",
            connection.getClass().getName());
      }
      return;
    }
    ChannelPipeline pipeline = base.channel().pipeline();
    if (pipeline.get(NAME) == null) pipeline.addFirst(NAME, new FlushConsolidationHandler(FLUSH_AFTER, true));
  }
}
