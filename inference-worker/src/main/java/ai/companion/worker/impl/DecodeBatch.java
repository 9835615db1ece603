package ai.companion.worker.impl;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The sequences that decode together, and their shared key/value cache: per layer key and value,
 * [B, kv_heads, T, head_dim], each member left-padded to T (the longest past; the attention mask hides the padding).
 *
 * <p>While the membership stays the same, a step's present outputs are the next step's past as they are (no copy).
 * When sequences join (after their prefill) or leave, {@link #rebuild} copies the live rows into the pool buffers
 * of the other side, trimming padding no member needs any more.
 *
 * <p>With the in-place graph ({@link OnnxDecoder#inPlace}) there is one buffer per cache tensor,
 * [rows, kv_heads, stride, head_dim], each member's tokens from position 0 of its row; a step writes into it where it
 * is (no presents to swap). A rebuild moves the rows of members that stay down over the rows of those that left, in
 * the same buffer, and copies joiners' rows in after them; the buffers grow (rows, or stride when the longest member
 * reaches it) geometrically, by a copy into bigger ones.
 */
public final class DecodeBatch implements AutoCloseable {
  private final OnnxDecoder decoder;
  private final int kvHeads;
  private final int headDim;
  private final int tensors;
  private final boolean inPlace;
  // in-place graph: the row stride (capacity in tokens) and row capacity of buffers[0], and the shape of the views
  private int stride;
  private int rowCapacity;
  private int viewRows = -1;
  private List<Sequence> members = new ArrayList<>();
  private OnnxTensor[] past;
  private int pastLength;
  // two preallocated direct buffers per cache tensor: a step reads the past from one and writes the present into
  // the other, so no cache memory is allocated per token; they grow with headroom and go after idle time
  private final FloatBuffer[][] buffers;
  private int side;
  // the side whose buffers hold the current past, or -1 (a prefill group's cache, or ONNX Runtime's own outputs)
  private int pastInPool = -1;
  // outside the pool: the direct buffers under an adopted group cache's tensors, or null (ONNX Runtime's memory)
  private FloatBuffer[] adoptedData;
  private OnnxTensor[] pinned;
  private long bufferAllocations;
  private long floatsAllocated;
  private long peakFloats;
  private long heapCopies;

  public DecodeBatch(OnnxDecoder decoder) {
    this.decoder = decoder;
    this.kvHeads = decoder.config().kvHeads();
    this.headDim = decoder.config().headDim();
    this.tensors = 2 * decoder.config().layers();
    this.buffers = new FloatBuffer[2][tensors];
    this.inPlace = decoder.inPlace();
  }

  /**
   * Views for the next step's presents, [B, kv, T + 1, d], over the buffer side the current past does not use.
   * The caller closes them if the step fails; on success {@link #advance} takes them.
   */
  OnnxTensor[] pinnedPresent() throws OrtException {
    int b = members.size();
    long need = (long) b * kvHeads * (pastLength + 1) * headDim;
    if (need > Integer.MAX_VALUE) return null;
    int n = (int) need;
    long[] shape = {b, kvHeads, pastLength + 1, headDim};
    peakFloats = Math.max(peakFloats, n);
    OnnxTensor[] out = new OnnxTensor[tensors];
    try {
      for (int i = 0; i < tensors; i++) out[i] = decoder.view(buffer(side, i, n, b), n, shape);
      pinned = out;
      return out;
    } catch (OrtException | RuntimeException e) {
      for (OnnxTensor x : out) if (x != null) x.close();
      throw e;
    }
  }

  /**
   * The pool buffer of one side and tensor, with room for {@code n} floats of a batch of {@code b} rows. It grows
   * only, and geometrically: room for 16 more steps of this batch and at least twice the old buffer, so a batch
   * that grows a few rows or a token at a time reallocates (and zeroes) rarely. The buffers are held until the
   * worker has been idle a while ({@link #releaseIdleBuffers}); admission keeps the caches they hold within the KV
   * budget.
   */
  private FloatBuffer buffer(int onSide, int i, int n, int b) {
    FloatBuffer buf = buffers[onSide][i];
    if (buf == null || buf.capacity() < n) {
      long want = Math.max(n + (long) b * kvHeads * headDim * 16, n + n / 4L);
      if (buf != null) want = Math.max(want, 2L * buf.capacity());
      buf = allocate((int) Math.min(Integer.MAX_VALUE / 4, want));
      buffers[onSide][i] = buf;
    }
    return buf;
  }

  /** A new cache buffer of {@code floats} floats, counted in {@link #bufferAllocations}. */
  private FloatBuffer allocate(int floats) {
    bufferAllocations++;
    floatsAllocated += floats;
    return OnnxDecoder.directFloats(floats);
  }

  public int size() { return members.size(); }

  /** Cache buffers allocated by decode steps so far. */
  long bufferAllocations() { return bufferAllocations; }

  /** Floats in the cache buffers allocated (and zeroed) by decode steps so far, all tensors together. */
  long floatsAllocated() { return floatsAllocated; }

  /** The most floats one cache tensor of one step has needed so far. */
  long peakFloats() { return peakFloats; }

  /**
   * Cache tensors read through a heap copy so far (joins and parks read rows in place where the tensors are views
   * of direct buffers; only ONNX Runtime's own outputs, e.g. of a chunked prefill, need the copy).
   */
  long heapCopies() { return heapCopies; }

  public List<Sequence> members() { return members; }

  int pastLength() { return pastLength; }

  OnnxTensor[] past() { return past; }

  int memberPast(int row) { return members.get(row).cached(); }

  int memberInput(int row) { return members.get(row).nextToken(); }

  /** After a step: the presents become the past, every member holds one more token. */
  void advance(OnnxTensor[] present) {
    closePast();
    past = present;
    // the past is never on the side the next present goes to; it lives in the pool when the step wrote it there
    pastInPool = present == pinned ? side : -1;
    adoptedData = null;
    pinned = null;
    side ^= 1;
    pastLength++;
    for (Sequence s : members) s.cachedOneMore();
  }

  /**
   * Makes {@code next} the membership: members staying keep their rows' cache, joining members bring the rows of
   * their group {@link KvCache}, members not in {@code next} are dropped. Group caches are not closed here (their
   * owner closes them; a cache adopted whole is released first, so closing it then does nothing).
   */
  public void rebuild(List<Sequence> next) throws OrtException {
    rebuild(next, List.of());
  }

  /**
   * As {@link #rebuild(List)}, and members in {@code park} leave the batch with their rows copied into a cache of
   * their own ({@link Sequence#parked}), to join again later.
   */
  public void rebuild(List<Sequence> next, List<Sequence> park) throws OrtException {
    if (!park.isEmpty()) extract(park);
    if (next.isEmpty()) {
      closePast();
      pastInPool = -1;
      members = new ArrayList<>();
      pastLength = 0;
      return;
    }
    if (inPlace) {
      rebuildInPlace(next);
      return;
    }
    if (adoptable(next)) {
      // a whole prefill group and nobody else: its cache is the batch cache as it is, no copy
      KvCache cache = next.get(0).ownCache();
      closePast();
      pastInPool = -1;
      pastLength = cache.length();
      adoptedData = cache.data();
      past = cache.release();
      for (Sequence s : next) s.joinedBatch();
      members = new ArrayList<>(next);
      return;
    }
    int t = 0;
    for (Sequence s : next) t = Math.max(t, s.cached());
    int b = next.size();
    long need = (long) b * kvHeads * t * headDim;
    if (need > Integer.MAX_VALUE) throw new IllegalStateException("a batch cache of " + need + " floats is too big");
    int n = (int) need;
    peakFloats = Math.max(peakFloats, n);
    java.util.Map<Sequence, Integer> oldRows = new java.util.IdentityHashMap<>();
    for (int r = 0; r < members.size(); r++) oldRows.put(members.get(r), r);
    java.util.Map<KvCache, FloatBuffer> groupData = new java.util.IdentityHashMap<>();
    // rows are copied straight into the pool: onto the side the next present would use (never the old past's),
    // then the sides swap and the next step writes over the old past. No heap arrays: at 2000 rows each tensor
    // is megabytes, and heap copies of them were humongous allocations behind 50-100 ms young-GC pauses.
    int to = side;
    long[] shape = {b, kvHeads, t, headDim};
    OnnxTensor[] fresh = new OnnxTensor[tensors];
    try {
      for (int i = 0; i < tensors; i++) {
        FloatBuffer dst = buffer(to, i, n, b);
        FloatBuffer oldData = null;
        groupData.clear();
        for (int r = 0; r < b; r++) {
          Sequence s = next.get(r);
          int p = s.cached();
          FloatBuffer src;
          int srcRow;
          int srcT;
          int srcStart;
          KvCache own = s.ownCache();
          if (own != null) {
            final int layer = i;
            // once per group and layer: in place where the group's tensors are views of direct buffers
            src = groupData.computeIfAbsent(own, c -> floats(c.tensors()[layer], c.data(), layer));
            srcRow = s.cacheRow();
            srcT = own.length();
            srcStart = own.start(p);
          } else {
            Integer row = oldRows.get(s);
            if (row == null) throw new IllegalStateException("sequence " + s.requestId() + " has no cache");
            if (oldData == null) oldData = pastData(i);
            src = oldData;
            srcRow = row;
            srcT = pastLength;
            srcStart = pastLength - p;
          }
          copyRow(src, srcRow, srcT, srcStart, dst, r, t, t - p, p);
        }
        fresh[i] = decoder.view(dst, n, shape);
      }
    } catch (OrtException | RuntimeException e) {
      for (OnnxTensor x : fresh) if (x != null) x.close();
      throw e;
    }
    closePast();
    for (Sequence s : next) s.joinedBatch();
    past = fresh;
    pastInPool = to;
    adoptedData = null;
    side = to ^ 1;
    pastLength = t;
    members = new ArrayList<>(next);
  }

  /** Copies the rows of {@code park} out of the batch cache, each into direct buffers of its own. */
  private void extract(List<Sequence> park) throws OrtException {
    java.util.Map<Sequence, Integer> rows = new java.util.IdentityHashMap<>();
    for (int r = 0; r < members.size(); r++) rows.put(members.get(r), r);
    OnnxTensor[][] out = new OnnxTensor[park.size()][tensors];
    FloatBuffer[][] data = new FloatBuffer[park.size()][tensors];
    try {
      for (int i = 0; i < tensors; i++) {
        FloatBuffer src = pastData(i);
        for (int k = 0; k < park.size(); k++) {
          Sequence s = park.get(k);
          int p = s.cached();
          FloatBuffer dst = OnnxDecoder.directFloats(kvHeads * p * headDim);
          if (inPlace) copyRow(src, rows.get(s), stride, 0, dst, 0, p, 0, p);
          else copyRow(src, rows.get(s), pastLength, pastLength - p, dst, 0, p, 0, p);
          data[k][i] = dst;
          out[k][i] = decoder.view(dst, dst.capacity(), new long[] {1, kvHeads, p, headDim});
        }
      }
    } catch (OrtException | RuntimeException e) {
      for (OnnxTensor[] o : out) for (OnnxTensor x : o) if (x != null) x.close();
      throw e;
    }
    for (int k = 0; k < park.size(); k++) {
      park.get(k).parked(new KvCache(out[k], data[k], park.get(k).cached(), 1, false));
    }
  }

  /**
   * {@code p} positions of one row of a cache tensor [*, kv, srcT, d], from {@code srcStart}, into row
   * {@code dstRow} of [*, kv, dstT, d] from {@code dstStart}. A method of its own so that the JIT compiles this loop
   * small and early instead of recompiling the whole rebuild around it.
   */
  private void copyRow(FloatBuffer src, int srcRow, int srcT, int srcStart, FloatBuffer dst, int dstRow, int dstT,
                       int dstStart, int p) {
    int len = p * headDim;
    for (int h = 0; h < kvHeads; h++) {
      int from = ((srcRow * kvHeads + h) * srcT + srcStart) * headDim;
      int into = ((dstRow * kvHeads + h) * dstT + dstStart) * headDim;
      dst.put(into, src, from, len);
    }
  }

  /**
   * The in-place rebuild. Members that stay keep their rows, except those beyond the new staying count, which move
   * into the rows of members that left (so a compaction copies as many rows as left, not the whole batch); joiners'
   * rows follow the staying ones. The order of {@link #members} therefore need not be the order of {@code next}.
   * When the buffers are too small everything goes into bigger ones, in the same arrangement.
   */
  private void rebuildInPlace(List<Sequence> next) throws OrtException {
    int b = next.size();
    int t = 0;
    for (Sequence s : next) t = Math.max(t, s.cached());
    java.util.Map<Sequence, Integer> oldRows = new java.util.IdentityHashMap<>();
    for (int r = 0; r < members.size(); r++) oldRows.put(members.get(r), r);
    List<Sequence> staying = new ArrayList<>();
    List<Sequence> joining = new ArrayList<>();
    for (Sequence s : next) {
      if (oldRows.containsKey(s)) staying.add(s);
      else if (s.ownCache() != null) joining.add(s);
      else throw new IllegalStateException("sequence " + s.requestId() + " has no cache");
    }
    // the new arrangement: stayers below the staying count keep their row, the others fill the rows left free
    int keep = staying.size();
    Sequence[] arranged = new Sequence[b];
    List<Sequence> movers = new ArrayList<>();
    for (Sequence s : staying) {
      int o = oldRows.get(s);
      if (o < keep) arranged[o] = s;
      else movers.add(s);
    }
    int hole = 0;
    for (Sequence s : movers) {
      while (arranged[hole] != null) hole++;
      arranged[hole] = s;
    }
    for (int j = 0; j < joining.size(); j++) arranged[keep + j] = joining.get(j);
    peakFloats = Math.max(peakFloats, (long) b * kvHeads * (t + 1) * headDim);
    boolean fits = buffers[0][0] != null && rowCapacity >= b && stride >= t + 1;
    FloatBuffer[] from = buffers[0];
    int fromStride = stride;
    FloatBuffer[] to = fits ? from : grown(b, t + 1);
    java.util.Map<KvCache, FloatBuffer> groupData = new java.util.IdentityHashMap<>();
    for (int i = 0; i < tensors; i++) {
      // stayers first: a mover's old row may be where a joiner goes
      for (int r = 0; r < keep; r++) {
        Sequence s = arranged[r];
        int o = oldRows.get(s);
        if (to != from || o != r) copyRow(from[i], o, fromStride, 0, to[i], r, stride, 0, s.cached());
      }
      groupData.clear();
      for (int r = keep; r < b; r++) {
        Sequence s = arranged[r];
        KvCache own = s.ownCache();
        final int layer = i;
        FloatBuffer src = groupData.computeIfAbsent(own, c -> floats(c.tensors()[layer], c.data(), layer));
        copyRow(src, s.cacheRow(), own.length(), own.start(s.cached()), to[i], r, stride, 0, s.cached());
      }
    }
    closePast();
    buffers[0] = to;
    for (Sequence s : next) s.joinedBatch();
    pastLength = t;
    members = new ArrayList<>(java.util.Arrays.asList(arranged));
  }

  /** Whether a rebuild costs only the rows that move (the in-place graph), not a copy of the whole cache. */
  boolean cheapRebuilds() { return inPlace; }

  /**
   * New in-place buffers for at least {@code rows} rows of {@code minStride} tokens. What grows gets headroom (a
   * quarter more rows; twice the stride or 16 more tokens, capped at the model's context), what does not keeps its
   * size; {@link #stride} and {@link #rowCapacity} describe them from now on.
   */
  private FloatBuffer[] grown(int rows, int minStride) {
    int context = Math.max(minStride, decoder.config().contextLength());
    int newStride = stride >= minStride ? stride : Math.min(context, Math.max(2 * stride, minStride + 16));
    int newRows = rowCapacity >= rows ? rowCapacity : rows + rows / 4 + 8;
    long floats = (long) newRows * kvHeads * newStride * headDim;
    if (floats > Integer.MAX_VALUE / 4) {
      newRows = rows;
      floats = (long) newRows * kvHeads * newStride * headDim;
      if (floats > Integer.MAX_VALUE / 4) {
        throw new IllegalStateException("a batch cache of " + floats + " floats is too big");
      }
    }
    FloatBuffer[] out = new FloatBuffer[tensors];
    for (int i = 0; i < tensors; i++) out[i] = allocate((int) floats);
    stride = newStride;
    rowCapacity = newRows;
    return out;
  }

  /**
   * The in-place graph's past (and present) for the next step: views [B, kv, stride, d] over the members' rows.
   * When the longest member has filled its row, the buffers first grow (one copy of every row).
   */
  OnnxTensor[] inPlaceCache() throws OrtException {
    int b = members.size();
    if (stride < pastLength + 1 || buffers[0][0] == null || rowCapacity < b) {
      FloatBuffer[] from = buffers[0];
      int fromStride = stride;
      FloatBuffer[] to = grown(b, pastLength + 1);
      if (from[0] != null) {
        for (int i = 0; i < tensors; i++) {
          for (int r = 0; r < b; r++) {
            copyRow(from[i], r, fromStride, 0, to[i], r, stride, 0, members.get(r).cached());
          }
        }
      }
      closePast();
      buffers[0] = to;
    }
    peakFloats = Math.max(peakFloats, (long) b * kvHeads * (pastLength + 1) * headDim);
    if (past == null || viewRows != b) {
      closePast();
      long[] shape = {b, kvHeads, stride, headDim};
      int n = b * kvHeads * stride * headDim;
      OnnxTensor[] views = new OnnxTensor[tensors];
      try {
        for (int i = 0; i < tensors; i++) views[i] = decoder.view(buffers[0][i], n, shape);
      } catch (OrtException | RuntimeException e) {
        for (OnnxTensor x : views) if (x != null) x.close();
        throw e;
      }
      past = views;
      viewRows = b;
    }
    return past;
  }

  /** After an in-place step: every member holds one more token (written where it lies). */
  void advanceInPlace() {
    pastLength++;
    for (Sequence s : members) s.cachedOneMore();
  }

  /** The current past of cache tensor {@code i} as floats: in place when it lies in direct buffers. */
  private FloatBuffer pastData(int i) {
    if (inPlace) return buffers[0][i];
    if (pastInPool >= 0) return buffers[pastInPool][i];
    return floats(past[i], adoptedData, i);
  }

  private FloatBuffer floats(OnnxTensor tensor, FloatBuffer[] data, int i) {
    if (data != null && data[i] != null) return data[i];
    heapCopies++;
    return tensor.getFloatBuffer();
  }

  /** True when {@code next} is exactly every row of one group cache, in row order. */
  private static boolean adoptable(List<Sequence> next) {
    KvCache cache = next.get(0).ownCache();
    if (cache == null || cache.rows() != next.size()) return false;
    for (int r = 0; r < next.size(); r++) {
      Sequence s = next.get(r);
      if (s.ownCache() != cache || s.cacheRow() != r) return false;
    }
    return true;
  }

  private void closePast() {
    if (past != null) for (OnnxTensor x : past) x.close();
    past = null;
    adoptedData = null;
    viewRows = -1;
  }

  /**
   * Gives the cache buffers back while the batch is empty (the scheduler calls this after a while without work):
   * kept across short gaps, a burst after a burst reuses them without allocating (and zeroing) them again.
   */
  void releaseIdleBuffers() {
    if (members.isEmpty()) releaseBuffers();
  }

  private void releaseBuffers() {
    java.util.Arrays.fill(buffers[0], null);
    java.util.Arrays.fill(buffers[1], null);
    stride = 0;
    rowCapacity = 0;
  }

  @Override public void close() {
    closePast();
    pastInPool = -1;
    releaseBuffers();
    members = new ArrayList<>();
  }
}
