package ai.companion.worker.impl;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sequences that decode together, and their shared key/value cache: per layer key and value,
 * [B, kv_heads, T, head_dim], each member left-padded to T (the longest past; the attention mask hides the padding).
 *
 * <p>While the membership stays the same, a step's present outputs are the next step's past as they are (no copy).
 * When sequences join (after their prefill) or leave, {@link #rebuild} copies the live rows into new tensors,
 * trimming padding no member needs any more.
 */
public final class DecodeBatch implements AutoCloseable {
  private final OnnxDecoder decoder;
  private final int kvHeads;
  private final int headDim;
  private final int tensors;
  private List<Sequence> members = new ArrayList<>();
  private OnnxTensor[] past;
  private int pastLength;

  public DecodeBatch(OnnxDecoder decoder) {
    this.decoder = decoder;
    this.kvHeads = decoder.config().kvHeads();
    this.headDim = decoder.config().headDim();
    this.tensors = 2 * decoder.config().layers();
  }

  public int size() { return members.size(); }

  public List<Sequence> members() { return members; }

  int pastLength() { return pastLength; }

  OnnxTensor[] past() { return past; }

  int memberPast(int row) { return members.get(row).cached(); }

  int memberInput(int row) { return members.get(row).nextToken(); }

  /** After a step: the presents become the past, every member holds one more token. */
  void advance(OnnxTensor[] present) {
    closePast();
    past = present;
    pastLength++;
    for (Sequence s : members) s.cachedOneMore();
  }

  /**
   * Makes {@code next} the membership: members staying keep their rows' cache, joining members bring their own
   * {@link KvCache} (released into the batch), members not in {@code next} are dropped.
   */
  public void rebuild(List<Sequence> next) throws OrtException {
    if (next.isEmpty()) {
      closePast();
      members = new ArrayList<>();
      pastLength = 0;
      return;
    }
    if (next.size() == 1 && next.get(0).ownCache() != null) {
      // a lone newcomer: its own cache is the batch cache, no copy
      closePast();
      Sequence s = next.get(0);
      past = s.ownCache().release();
      s.joinedBatch();
      members = new ArrayList<>(next);
      pastLength = s.cached();
      return;
    }
    int t = 0;
    for (Sequence s : next) t = Math.max(t, s.cached());
    int b = next.size();
    float[][] oldData = new float[tensors][];
    java.util.Map<Sequence, Integer> oldRows = new java.util.IdentityHashMap<>();
    for (int r = 0; r < members.size(); r++) oldRows.put(members.get(r), r);
    OnnxTensor[] fresh = new OnnxTensor[tensors];
    try {
      for (int i = 0; i < tensors; i++) {
        float[] dst = new float[b * kvHeads * t * headDim];
        for (int r = 0; r < b; r++) {
          Sequence s = next.get(r);
          int p = s.cached();
          float[] src;
          int srcRow;
          int srcT;
          if (s.ownCache() != null) {
            src = OnnxDecoder.read(s.ownCache().tensors()[i]);
            srcRow = 0;
            srcT = p;
          } else {
            Integer row = oldRows.get(s);
            if (row == null) throw new IllegalStateException("sequence " + s.requestId() + " has no cache");
            if (oldData[i] == null) oldData[i] = OnnxDecoder.read(past[i]);
            src = oldData[i];
            srcRow = row;
            srcT = pastLength;
          }
          for (int h = 0; h < kvHeads; h++) {
            int from = ((srcRow * kvHeads + h) * srcT + (srcT - p)) * headDim;
            int to = ((r * kvHeads + h) * t + (t - p)) * headDim;
            System.arraycopy(src, from, dst, to, p * headDim);
          }
        }
        oldData[i] = null;
        fresh[i] = decoder.tensor(dst, new long[] {b, kvHeads, t, headDim});
      }
    } catch (OrtException | RuntimeException e) {
      for (OnnxTensor x : fresh) if (x != null) x.close();
      throw e;
    }
    closePast();
    for (Sequence s : next) {
      if (s.ownCache() != null) {
        s.ownCache().close();
        s.joinedBatch();
      }
    }
    past = fresh;
    pastLength = t;
    members = new ArrayList<>(next);
  }

  private void closePast() {
    if (past != null) for (OnnxTensor x : past) x.close();
    past = null;
  }

  @Override public void close() {
    closePast();
    members = new ArrayList<>();
  }
}
