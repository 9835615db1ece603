package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.ModelInfo;
import ai.companion.api.WorkerInfo;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.security.GatewaySecurity;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.shareddata.LocalMap;
import io.vertx.ext.web.RoutingContext;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Health, {@code /v1/models} and {@code /v1/cluster/nodes}. */
public final class InfoEndpoints {
  private static final Logger LOG = LoggerFactory.getLogger(InfoEndpoints.class);

  /** The node's local map (the launcher reads {@code httpPort} from it and may put {@code roles}). */
  public static final String NODE_MAP = "companion.node";
  public static final String AUTO = "auto";
  /** Readiness asks the router with this timeout. */
  static final long READY_TIMEOUT_MS = 2_000;

  private final Vertx vertx;
  private final GatewayOptions options;
  private final long created = System.currentTimeMillis() / 1000;

  public InfoEndpoints(Vertx vertx, GatewayOptions options) {
    this.vertx = vertx;
    this.options = options;
  }

  public void live(RoutingContext ctx) {
    json(ctx, 200, new JsonObject().put("status", "live").put("node", options.getNodeName()));
  }

  /**
   * Ready when a router answers: then a request can be placed (or told clearly that no worker serves it); not while
   * the node warms up.
   */
  public void ready(RoutingContext ctx) {
    if (vertx.sharedData().getLocalMap(NODE_MAP).get(GatewaySecurity.WARM_UP_TOKEN_KEY) != null) {
      json(ctx, 503, new JsonObject().put("status", "warming_up").put("node", options.getNodeName())
          .put("reason", "the node is warming up with its own requests before it reports ready"));
      return;
    }
    models(READY_TIMEOUT_MS).onComplete(ar -> {
      if (ar.succeeded()) {
        json(ctx, 200, new JsonObject().put("status", "ready").put("node", options.getNodeName())
            .put("models", ar.result().size()));
      } else {
        json(ctx, 503, new JsonObject().put("status", "not_ready").put("node", options.getNodeName())
            .put("reason", "no router answers: " + ar.cause().getMessage()));
      }
    });
  }

  public void models(RoutingContext ctx) {
    models(options.getRequestTimeoutMs()).onFailure(err -> ctx.fail(Failures.fromBus(err, null)))
        .onSuccess(models -> {
          JsonArray data = new JsonArray().add(new JsonObject().put("id", AUTO).put("object", "model")
              .put("created", created).put("owned_by", "companion")
              .put("companion", new JsonObject().put("description", "the router chooses the model per request")));
          Set<String> seen = new LinkedHashSet<>();
          for (ModelInfo m : models) {
            if (!seen.add(m.id())) continue;
            data.add(new JsonObject().put("id", m.id()).put("object", "model").put("created", created)
                .put("owned_by", "companion").put("companion", new JsonObject().put("family", m.family())
                    .put("context_length", m.contextLength()).put("parameters", m.parameters())
                    .put("variant", m.variant()).put("description", m.description())));
          }
          json(ctx, 200, new JsonObject().put("object", "list").put("data", data));
        });
  }

  private Future<List<ModelInfo>> models(long timeoutMs) {
    return vertx.eventBus().<Object>request(Addresses.ROUTER_MODELS, new JsonObject(),
            new DeliveryOptions().setSendTimeout(timeoutMs))
        .map(reply -> GenerationCall.json(reply.body()).getJsonArray("models", new JsonArray()).stream()
            .map(o -> ModelInfo.fromJson(GenerationCall.json(o))).toList());
  }

  /**
   * {@code {"nodes":[{"name","roles","models","device","load"}]}}: every node of the node registry
   * ({@link Addresses#NODE_REGISTRY_MAP}, written by the launcher), with models, device and load from the worker
   * registry entries of that node (empty for nodes without workers). Nodes that only appear in the worker registry
   * and this gateway's own node are listed too, so verticles deployed without the launcher still show.
   */
  public void clusterNodes(RoutingContext ctx) {
    Future<Map<String, Object>> registered = vertx.sharedData().<String, Object>getAsyncMap(Addresses.NODE_REGISTRY_MAP)
        .compose(map -> map.entries());
    Future<Map<String, Object>> workers = vertx.sharedData().<String, Object>getAsyncMap(Addresses.WORKER_REGISTRY_MAP)
        .compose(map -> map.entries());
    Future.all(registered, workers)
        .onFailure(err -> ctx.fail(err))
        .onSuccess(all -> {
          Map<String, NodeView> nodes = new TreeMap<>();
          for (Map.Entry<String, Object> e : registered.result().entrySet()) {
            JsonObject entry;
            try {
              entry = GenerationCall.json(e.getValue());
            } catch (RuntimeException ex) {
              LOG.debug("Ignoring malformed node registry entry {}: {}", e.getKey(), ex.toString());
              continue;
            }
            NodeView n = nodes.computeIfAbsent(entry.getString("name", e.getKey()), NodeView::new);
            JsonArray roles = entry.getJsonArray("roles", new JsonArray());
            roles.forEach(r -> n.roles.add(String.valueOf(r)));
          }
          for (Map.Entry<String, Object> e : workers.result().entrySet()) {
            WorkerInfo w;
            try {
              w = WorkerInfo.fromJson(GenerationCall.json(e.getValue()));
            } catch (RuntimeException ex) {
              LOG.debug("Ignoring malformed registry entry {}: {}", e.getKey(), ex.toString());
              continue;
            }
            NodeView n = nodes.computeIfAbsent(w.nodeName() == null ? "?" : w.nodeName(), NodeView::new);
            n.roles.add("worker");
            w.models().forEach(m -> n.models.add(m.id()));
            if (w.device() != null) n.devices.add(w.device());
            n.workers++;
            n.active += w.activeSequences();
            n.queued += w.queuedRequests();
            n.outstanding += w.outstandingTokens();
          }
          NodeView self = nodes.computeIfAbsent(options.getNodeName(), NodeView::new);
          LocalMap<String, Object> local = vertx.sharedData().getLocalMap(NODE_MAP);
          Object roles = local.get("roles");
          if (roles != null) {
            for (String r : String.valueOf(roles).replaceAll("[\\[\\]\\s]", "").split(",")) {
              if (!r.isEmpty()) self.roles.add(r);
            }
          }
          self.roles.add("gateway");
          JsonArray out = new JsonArray();
          nodes.values().forEach(n -> out.add(n.toJson()));
          json(ctx, 200, new JsonObject().put("nodes", out));
        });
  }

  private static final class NodeView {
    final String name;
    final Set<String> roles = new java.util.TreeSet<>();
    final Set<String> models = new java.util.TreeSet<>();
    final Set<String> devices = new java.util.TreeSet<>();
    int workers;
    int active;
    int queued;
    long outstanding;

    NodeView(String name) {
      this.name = name;
    }

    JsonObject toJson() {
      return new JsonObject().put("name", name).put("roles", new JsonArray(List.copyOf(roles)))
          .put("models", new JsonArray(List.copyOf(models)))
          .put("device", devices.isEmpty() ? null : String.join(",", devices))
          .put("load", new JsonObject().put("workers", workers).put("activeSequences", active)
              .put("queuedRequests", queued).put("outstandingTokens", outstanding));
    }
  }

  static void json(RoutingContext ctx, int status, JsonObject body) {
    ctx.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .end(body.encode());
  }
}
