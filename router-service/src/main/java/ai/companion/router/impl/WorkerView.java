package ai.companion.router.impl;

import ai.companion.api.ModelInfo;
import ai.companion.api.WorkerInfo;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The router's picture of the live workers: membership from the shared registry map, load from whichever
 * snapshot is newer (the map entry or the latest {@code WORKER_STATUS} publish), plus the tokens this router
 * has sent to a worker since that worker's last snapshot.
 *
 * <p>Not thread-safe: used from the router verticle's event loop only.
 */
public final class WorkerView {

  private final long staleMs;
  private final Map<String, WorkerInfo> published = new HashMap<>();
  private final Map<String, Pending> pending = new HashMap<>();

  public WorkerView(long staleMs) {
    this.staleMs = staleMs;
  }

  /** A worker's own load snapshot arrived on the status address. */
  public void onStatus(WorkerInfo info) {
    WorkerInfo old = published.get(info.workerId());
    if (old == null || old.updatedAt() <= info.updatedAt()) published.put(info.workerId(), info);
  }

  /**
   * Live workers: every registry entry not older than the stale limit, with the freshest load known.
   * Registry order is not stable across nodes, so the result is sorted by worker id.
   */
  public List<WorkerInfo> live(Collection<WorkerInfo> registry, long now) {
    List<WorkerInfo> out = new ArrayList<>();
    for (WorkerInfo w : registry) {
      WorkerInfo pub = published.get(w.workerId());
      WorkerInfo best = pub != null && pub.updatedAt() > w.updatedAt() ? pub : w;
      if (now - best.updatedAt() <= staleMs) out.add(best);
    }
    // forget publishes of workers that left the registry, so the map stays small
    published.keySet().retainAll(registry.stream().map(WorkerInfo::workerId).toList());
    out.sort(Comparator.comparing(WorkerInfo::workerId));
    return out;
  }

  /** Every model some live worker serves, once each (first worker in id order wins), sorted by id. */
  public static List<ModelInfo> models(List<WorkerInfo> live) {
    Map<String, ModelInfo> byId = new LinkedHashMap<>();
    for (WorkerInfo w : live) for (ModelInfo m : w.models()) byId.putIfAbsent(m.id(), m);
    List<ModelInfo> out = new ArrayList<>(byId.values());
    out.sort(Comparator.comparing(ModelInfo::id));
    return out;
  }

  /** The load of one worker as this router sees it. */
  public record Load(WorkerInfo worker, long outstandingTokens, int queued, int active) {
    public String describe() {
      return worker.workerId() + "@" + worker.nodeName() + " (" + outstandingTokens + " outstanding tokens, "
          + queued + " queued, " + active + " active)";
    }
  }

  /**
   * The choice for one model, with the number of workers considered; {@code leastLoaded} is the worker the load
   * alone picks (the same as {@code load} unless the prompt's beginning took it elsewhere), {@code affinity} whether
   * {@code load}'s worker is the one the prompt's beginning belongs to (see {@link PrefixAffinity}).
   */
  public record Choice(Load load, int candidates, int excluded, Load leastLoaded, boolean affinity) {
    public Choice(Load load, int candidates, int excluded) {
      this(load, candidates, excluded, load, false);
    }
  }

  /** Least load first: outstanding tokens, then queue length, then active sequences, then worker id. */
  static final Comparator<Load> LEAST_LOADED = Comparator.comparingLong(Load::outstandingTokens)
      .thenComparingInt(Load::queued).thenComparingInt(Load::active)
      .thenComparing(l -> l.worker().workerId());

  public Load load(WorkerInfo w) {
    Pending p = pending.get(w.workerId());
    if (p == null || p.snapshotAt != w.updatedAt()) {
      return new Load(w, w.outstandingTokens(), w.queuedRequests(), w.activeSequences());
    }
    return new Load(w, w.outstandingTokens() + p.tokens, w.queuedRequests(), w.activeSequences() + p.requests);
  }

  /**
   * The least loaded live worker serving {@code model}, skipping {@code exclude}; null when none is left.
   * The caller distinguishes "no worker serves it" from "all of them are excluded" with {@link #serving}.
   */
  public Choice choose(List<WorkerInfo> live, String model, Set<String> exclude) {
    return choose(live, model, exclude, null, 0);
  }

  /**
   * As {@link #choose(List, String, Set)}, but a request with an affinity key ({@link PrefixAffinity#key}) goes to
   * the worker its prompt's beginning belongs to while that worker holds at most {@code slack} more requests
   * (running or queued) than the least loaded one (0: never); past that, the least loaded.
   */
  public Choice choose(List<WorkerInfo> live, String model, Set<String> exclude, String affinityKey, int slack) {
    Load best = null;
    Load owner = null;
    long ownerScore = Long.MIN_VALUE;
    int keyHash = affinityKey == null ? 0 : affinityKey.hashCode();
    int candidates = 0;
    int excluded = 0;
    for (WorkerInfo w : live) {
      if (!w.serves(model)) continue;
      if (exclude.contains(w.workerId())) {
        excluded++;
        continue;
      }
      candidates++;
      Load l = load(w);
      if (best == null || LEAST_LOADED.compare(l, best) < 0) best = l;
      if (affinityKey != null && slack > 0) {
        long score = PrefixAffinity.score(keyHash, w.workerId());
        if (owner == null || score > ownerScore) {
          owner = l;
          ownerScore = score;
        }
      }
    }
    if (best == null) return null;
    if (owner == null) return new Choice(best, candidates, excluded);
    // queued counts like running: a snapshot may catch a request between its arrival and its admission
    boolean ownerTakes = owner == best || owner.active() + owner.queued() <= best.active() + best.queued() + slack;
    return ownerTakes ? new Choice(owner, candidates, excluded, best, true) : new Choice(best, candidates, excluded);
  }

  public static int serving(List<WorkerInfo> live, String model) {
    int n = 0;
    for (WorkerInfo w : live) if (w.serves(model)) n++;
    return n;
  }

  /**
   * Counts a request the router just sent to a worker until that worker publishes a newer snapshot (which
   * then includes it): without this a burst inside one refresh period would all land on the same worker. The
   * request (when it has an id) is remembered, so that its end ({@link #finished}) takes it out of the count at once:
   * a conversation's next turn, right after the one before ended, then sees its worker as it is.
   */
  public void assigned(WorkerInfo w, long tokens, String requestId) {
    Pending p = pending.get(w.workerId());
    if (p == null || p.snapshotAt != w.updatedAt()) {
      p = new Pending(w.updatedAt());
      pending.put(w.workerId(), p);
    }
    p.tokens += tokens;
    p.requests++;
    if (requestId != null) assignments.put(requestId, new Assignment(w.workerId(), p, tokens));
  }

  /** The request ended: out of its worker's count, if that count is still the one it went into. */
  public void finished(String requestId) {
    Assignment a = assignments.remove(requestId);
    if (a == null || pending.get(a.workerId()) != a.pending()) return;
    a.pending().tokens = Math.max(0, a.pending().tokens - a.tokens());
    a.pending().requests = Math.max(0, a.pending().requests - 1);
  }

  private record Assignment(String workerId, Pending pending, long tokens) {}

  /** Requests assigned and not yet ended, by id; the oldest go first past {@link #ASSIGNMENTS} (an end never seen). */
  static final int ASSIGNMENTS = 16_384;
  private final Map<String, Assignment> assignments = new LinkedHashMap<>(1024, 0.75f, false) {
    @Override protected boolean removeEldestEntry(Map.Entry<String, Assignment> eldest) {
      return size() > ASSIGNMENTS;
    }
  };

  private static final class Pending {
    final long snapshotAt;
    long tokens;
    int requests;

    Pending(long snapshotAt) {
      this.snapshotAt = snapshotAt;
    }
  }
}
