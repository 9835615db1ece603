package ai.companion.gateway.security;

import ai.companion.api.ErrorCode;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.CorsHandler;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One place for who may call the gateway and how much: API keys (hashed), per-key rate and concurrent
 * generations, CORS. The HTTP router uses {@link #httpHandler()}; the WebSocket and gRPC doors call
 * {@link #authenticate(String)} and {@link #acquireStream(Principal)} themselves with the same rules.
 */
public final class GatewaySecurity {
  private static final Logger LOG = LoggerFactory.getLogger(GatewaySecurity.class);

  /** Routing-context key of the caller's {@link Principal}. */
  public static final String PRINCIPAL = "companion.principal";
  /** Paths that never need a key: probes and the scrape endpoint. */
  private static final Set<String> OPEN_PREFIXES = Set.of("/health/", "/metrics");
  /** Paths whose POST starts a generation and so takes a concurrent-stream slot. */
  private static final Set<String> GENERATION_PATHS = Set.of("/v1/completions", "/v1/chat/completions");

  /** Who is calling: the key id (hash prefix, safe to log) and tenant; {@link #ANONYMOUS} when keys are off. */
  public record Principal(String keyId, String tenant) {}

  public static final Principal ANONYMOUS = new Principal("anonymous", null);

  /**
   * Header of a node's own warm-up requests (see the node's WarmUp): its value must equal the token the node put
   * under {@link #WARM_UP_TOKEN_KEY} in its local map {@code companion.node}, which exists only in that process and
   * only until the node is ready. Such a request needs no key, takes no limit and is left out of the metrics and the
   * logs that learn from traffic.
   */
  public static final String WARM_UP_HEADER = "x-companion-warm-up";
  /** Local-map key of the node's warm-up token (absent once the node is ready). */
  public static final String WARM_UP_TOKEN_KEY = "warmUpToken";
  /** Who a warm-up request is. */
  public static final Principal WARM_UP = new Principal("warm-up", null);
  /** Routing-context key set on a warm-up request. */
  private static final String WARM_UP_REQUEST = "companion.warmUp";

  /** Why a call is refused: an {@link ErrorCode} (401 or 429), a message and, for 429, seconds to wait. */
  public record Denial(ErrorCode code, String message, long retryAfterSeconds) {
    public JsonObject openAiBody() {
      return new JsonObject().put("error", new JsonObject().put("message", message).put("type", code.openAiType())
          .putNull("param").put("code", code == ErrorCode.UNAUTHORIZED ? "invalid_api_key" : code.code()));
    }
  }

  /** Either a principal or a denial. */
  public record Admission(Principal principal, Denial denial) {
    public boolean allowed() { return denial == null; }
  }

  private final SecurityOptions options;
  private final ApiKeys keys;
  private final KeyLimits limits;
  private final Supplier<String> warmUpToken;

  public GatewaySecurity(SecurityOptions options) {
    this(options, () -> null);
  }

  /** {@code warmUpToken}: the node's current warm-up token, or null (asked only when a request names one). */
  public GatewaySecurity(SecurityOptions options, Supplier<String> warmUpToken) {
    this.warmUpToken = warmUpToken;
    this.options = new SecurityOptions(options);
    this.keys = ApiKeys.parse(options.getApiKeys());
    this.limits = new KeyLimits(options);
    if (keys.enabled()) {
      LOG.info("API keys on: {} key(s), {} req/min (burst {}), {} concurrent generations per key", keys.size(),
          options.getRatePerMinute(), options.getBurst(), options.getMaxConcurrentStreams());
    } else {
      LOG.info("API keys off: no key configured (set COMPANION_API_KEYS=key:tenant,... to require keys)");
    }
  }

  public boolean keysEnabled() { return keys.enabled(); }

  /** Checks an {@code Authorization} header value and takes one request from the key's rate bucket. */
  public Admission authenticate(String authorization) {
    if (!keys.enabled()) return new Admission(ANONYMOUS, null);
    String presented = ApiKeys.bearer(authorization);
    if (presented == null) {
      return new Admission(null, new Denial(ErrorCode.UNAUTHORIZED,
          "Missing API key: send it as 'Authorization: Bearer <key>'.", 0));
    }
    var key = keys.lookup(presented);
    if (key.isEmpty()) {
      return new Admission(null, new Denial(ErrorCode.UNAUTHORIZED, "Incorrect API key provided.", 0));
    }
    Principal p = new Principal(key.get().id(), key.get().tenant());
    long wait = limits.tryAcquireRequest(p.keyId());
    if (wait > 0) {
      LOG.debug("key {} over its rate, retry in {}s", p.keyId(), wait);
      return new Admission(p, new Denial(ErrorCode.RATE_LIMITED, "Rate limit reached for this API key ("
          + options.getRatePerMinute() + " requests per minute). Retry in " + wait + " s.", wait));
    }
    return new Admission(p, null);
  }

  /** Takes a concurrent-generation slot; a denial (429) when the key runs its maximum already. */
  public Denial acquireStream(Principal p) {
    if (p == null || p == ANONYMOUS || p == WARM_UP) return null;
    if (limits.tryAcquireStream(p.keyId())) return null;
    return new Denial(ErrorCode.RATE_LIMITED, "Too many concurrent generations for this API key (at most "
        + limits.maxStreams() + "). Retry when one has finished.", 1);
  }

  public void releaseStream(Principal p) {
    if (p == null || p == ANONYMOUS || p == WARM_UP) return;
    limits.releaseStream(p.keyId());
  }

  /** CORS for the web page and browser clients: the API's headers allowed, the route header exposed. */
  public CorsHandler corsHandler() {
    CorsHandler cors = CorsHandler.create();
    for (String origin : options.getCorsOrigins()) {
      if (!"*".equals(origin)) cors.addOrigin(origin);
    }
    return cors.allowedMethods(Set.of(HttpMethod.GET, HttpMethod.POST, HttpMethod.DELETE, HttpMethod.OPTIONS))
        .allowedHeaders(Set.of("authorization", "content-type", "x-request-id", "openai-organization",
            "openai-project", "x-stainless-os", "x-stainless-lang", "x-stainless-package-version",
            "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-arch", "x-stainless-retry-count",
            "x-stainless-timeout"))
        .exposedHeaders(Set.of("x-companion-route", "retry-after", "x-request-id"))
        .maxAgeSeconds(600);
  }

  /**
   * Router handler for every path: open paths pass; others need a key once keys are configured (the web page's
   * static files stay open, they hold no data: the page asks for a key when the API answers 401). A generation
   * request also takes a concurrent-stream slot, given back when its response ends or its connection closes.
   */
  public Handler<RoutingContext> httpHandler() {
    return ctx -> {
      String pass = ctx.request().getHeader(WARM_UP_HEADER);
      if (pass != null && isWarmUpToken(pass)) {
        ctx.put(WARM_UP_REQUEST, Boolean.TRUE);
        ctx.put(PRINCIPAL, WARM_UP);
        ctx.next();
        return;
      }
      String path = ctx.normalizedPath();
      if (ctx.request().method() == HttpMethod.OPTIONS || isOpen(path)) {
        ctx.next();
        return;
      }
      boolean api = path.startsWith("/v1/");
      if (!api) { // static web page
        ctx.next();
        return;
      }
      String auth = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
      if (auth == null && ctx.request().getHeader("upgrade") != null) {
        // browsers cannot set headers on a WebSocket handshake: the page sends the key as a query parameter
        String token = ctx.request().getParam("access_token");
        if (token != null) auth = "Bearer " + token;
      }
      Admission a = authenticate(auth);
      if (!a.allowed()) {
        deny(ctx, a.denial());
        return;
      }
      ctx.put(PRINCIPAL, a.principal());
      if (ctx.request().method() == HttpMethod.POST && GENERATION_PATHS.contains(path)) {
        Denial d = acquireStream(a.principal());
        if (d != null) {
          deny(ctx, d);
          return;
        }
        ctx.addEndHandler(v -> releaseStream(a.principal()));
      }
      ctx.next();
    };
  }

  /** Whether {@code presented} is the node's warm-up token now (compared in constant time). */
  boolean isWarmUpToken(String presented) {
    String token = warmUpToken.get();
    return token != null && MessageDigest.isEqual(token.getBytes(StandardCharsets.UTF_8),
        presented.getBytes(StandardCharsets.UTF_8));
  }

  /** Whether the HTTP handler admitted this request as the node's own warm-up. */
  public static boolean isWarmUp(RoutingContext ctx) {
    return ctx.get(WARM_UP_REQUEST) != null;
  }

  /** The principal the HTTP handler admitted, or {@link #ANONYMOUS}. */
  public static Principal principal(RoutingContext ctx) {
    Principal p = ctx.get(PRINCIPAL);
    return p == null ? ANONYMOUS : p;
  }

  /** Puts the caller's tenant (when keys are on) into a generation's hints, for the router and the knowledge store. */
  public static void tagTenant(RoutingContext ctx, ai.companion.api.GenerationRequest request) {
    Principal p = principal(ctx);
    if (p.tenant() != null) request.hints().put("tenant", p.tenant());
  }

  /** Writes a denial in OpenAI's error shape, with {@code Retry-After} for 429. */
  public static void deny(RoutingContext ctx, Denial d) {
    var resp = ctx.response().setStatusCode(d.code().httpStatus()).putHeader(HttpHeaders.CONTENT_TYPE, "application/json");
    if (d.retryAfterSeconds() > 0) resp.putHeader("Retry-After", Long.toString(d.retryAfterSeconds()));
    if (d.code() == ErrorCode.UNAUTHORIZED) resp.putHeader("WWW-Authenticate", "Bearer");
    resp.end(d.openAiBody().encode());
  }

  private static boolean isOpen(String path) {
    for (String p : OPEN_PREFIXES) if (path.startsWith(p)) return true;
    return false;
  }
}
