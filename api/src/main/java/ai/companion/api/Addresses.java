package ai.companion.api;

/**
 * Every event-bus address in one place. Naming: {@code companion.<service>.<verb>}.
 *
 * <p>Streams: a caller registers a consumer on a fresh address (see {@link #streamAddress(String)}) and
 * passes it in the request; the worker sends {@link StreamEvent}s there, in order, ending with exactly one
 * {@code done} or {@code error} event. A gateway instead names its shared {@link #sinkAddress(String) sink}: one
 * address for all the streams of one event loop, where events are told apart by their {@code requestId}. To a
 * sink a worker may send several events, of any streams, as one message {@code {"events":[event...]}} (see
 * {@link StreamEvent#BATCH_FIELD}); events that ask for a reply (flow-control checkpoints) always travel alone.
 */
public final class Addresses {
  private Addresses() {}

  /** Request {@link GenerationRequest} JSON, reply {@link RouteDecision} JSON (or a failure with an {@link ErrorCode}). */
  public static final String ROUTER_ROUTE = "companion.router.route";
  /** Request {}, reply {@code {"models":[ModelInfo...]}}: every model some live worker serves. */
  public static final String ROUTER_MODELS = "companion.router.models";
  /**
   * Request: user feedback {@code {"requestId", "rating": -1|0|1 or "score": 0..1}} or a cheap signal
   * {@code {"requestId", "signal": {"finishReason", "completionTokens", "maxTokens"}}}; reply
   * {@code {"accepted":true,"requestId","strategy","pattern","reward"}} once the reward is durable, or
   * {@link ErrorCode#NOT_FOUND} for a request the router never routed.
   */
  public static final String ROUTER_FEEDBACK = "companion.router.feedback";
  /** In a route's reply: the deciding router's id, for {@link #routerFeedback(String)}. */
  public static final String ROUTE_ROUTER_FIELD = "router";

  /** Prefix of a worker's own generate address; the full address is {@link #workerGenerate(String)}. */
  public static final String WORKER_GENERATE_PREFIX = "companion.worker.generate.";
  /** Published {@code {"requestId":...}}: every worker stops that request, if it runs it. */
  public static final String WORKER_CANCEL = "companion.worker.cancel";
  /** Published {@link WorkerInfo} JSON whenever a worker's models or load change, and periodically. */
  public static final String WORKER_STATUS = "companion.worker.status";

  /** Request {@code {"input":[texts]}}, reply {@code {"model","data":[[floats]...],"prompt_tokens"}}. */
  public static final String EMBEDDINGS_EMBED = "companion.embeddings.embed";

  /**
   * Knowledge service. Every request may carry {@code "tenant"} (the API key's tenant; absent means
   * {@code "public"}). Request/reply shapes are documented on {@code ai.companion.knowledge.KnowledgeVerticle}.
   * Ingest: {@code {"documents":[{"id","title","text","format"}]}} → {@code {"ingested":[ids]}} after a durable commit.
   */
  public static final String KNOWLEDGE_INGEST = "companion.knowledge.ingest";
  /** {@code {"q","k"?}} → {@code {"results":[{"document_id","chunk_id","text","score","graph":[...]}...]}}. */
  public static final String KNOWLEDGE_SEARCH = "companion.knowledge.search";
  /** {@code {}} → {@code {"gaps":[{"question","count","best_score"}...],"coverage"}}, most frequent first. */
  public static final String KNOWLEDGE_GAPS = "companion.knowledge.gaps";
  /** {@code {}} → {@code {"patterns":[{"id","question","count","examples"}...]}}. */
  public static final String KNOWLEDGE_PATTERNS = "companion.knowledge.patterns";
  /** {@code {"interaction_id","rating":1|0|-1,"promote"?}} → {@code {"recorded":true,"promoted_document_id"?}}. */
  public static final String KNOWLEDGE_FEEDBACK = "companion.knowledge.feedback";
  /** {@code {"question","route"?,"answer"?}} → {@code {"interaction_id","best_score","answered"}}: logs a question. */
  public static final String KNOWLEDGE_INTERACTION = "companion.knowledge.interaction";
  /**
   * Extractive answer with citations, for model "auto" with no generative model: {@code {"question"}} →
   * {@code {"answer","answered","best_score","citations":[{"n","document_id","chunk_id","title","sentence"}...],
   * "interaction_id"}}.
   */
  public static final String KNOWLEDGE_ANSWER = "companion.knowledge.answer";
  /** {@code {}} → {@code {"documents","chunks","entities","edges","questions","coverage","open_gaps"}}, for /metrics. */
  public static final String KNOWLEDGE_STATS = "companion.knowledge.stats";

  /** Name of the shared (clustered: Hazelcast) async map of live workers: workerId to {@link WorkerInfo} JSON. */
  public static final String WORKER_REGISTRY_MAP = "companion.workers";
  /**
   * Name of the shared async map of live nodes: node name to {@code {"name","roles":[...],"startedAt"}}. Every node
   * puts itself in once it is READY; the launcher's janitor removes nodes that left the cluster (stopped, or
   * kill -9, power loss) within seconds. Holds no user data.
   */
  public static final String NODE_REGISTRY_MAP = "companion.nodes";

  /**
   * One router's own feedback address: what {@link #ROUTER_FEEDBACK} takes, for the decisions this router made
   * (it answers {@link ErrorCode#NOT_FOUND} for others rather than asking its peers).
   */
  public static String routerFeedback(String routerId) {
    return ROUTER_FEEDBACK + "." + routerId;
  }

  public static String workerGenerate(String workerId) {
    return WORKER_GENERATE_PREFIX + workerId;
  }

  public static String streamAddress(String requestId) {
    return STREAM_PREFIX + requestId;
  }

  /** Every stream address, per request or shared, starts with this. */
  public static final String STREAM_PREFIX = "companion.stream.";
  /** Prefix of the shared stream addresses of gateways (see {@link #sinkAddress(String)}). */
  public static final String STREAM_SINK_PREFIX = STREAM_PREFIX + "sink.";

  /** A shared stream address: many streams, events told apart by request id, batches welcome. */
  public static String sinkAddress(String id) {
    return STREAM_SINK_PREFIX + id;
  }

  /** Whether the consumer of a stream address takes batches of events ({@code {"events":[...]}}). */
  public static boolean takesBatches(String streamAddress) {
    return streamAddress != null && streamAddress.startsWith(STREAM_SINK_PREFIX);
  }
}
