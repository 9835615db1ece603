package ai.companion.worker.impl;

import ai.onnxruntime.OnnxTensor;

/** One sequence's own key/value cache after its prefill: per layer key and value, [1, kv_heads, length, head_dim]. */
public final class KvCache implements AutoCloseable {
  private OnnxTensor[] tensors;
  private final int length;

  KvCache(OnnxTensor[] tensors, int length) {
    this.tensors = tensors;
    this.length = length;
  }

  public int length() { return length; }

  OnnxTensor[] tensors() { return tensors; }

  /** Hands the tensors over (the batch now owns them); this cache no longer closes them. */
  OnnxTensor[] release() {
    OnnxTensor[] t = tensors;
    tensors = null;
    return t;
  }

  @Override public void close() {
    if (tensors == null) return;
    for (OnnxTensor t : tensors) t.close();
    tensors = null;
  }
}
