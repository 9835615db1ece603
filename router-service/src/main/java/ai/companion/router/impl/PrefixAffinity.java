package ai.companion.router.impl;

import ai.companion.api.ChatMessage;
import ai.companion.api.GenerationRequest;

/**
 * Which worker a request's prompt beginning belongs to, so that the worker whose prompt cache holds it is asked
 * first: every turn of a chat repeats the conversation so far, and a worker copies the keys and values of a prompt
 * beginning it served before instead of running it again (docs/benchmarks.md, "A prompt cache"). On another worker
 * the turn runs whole. Without affinity the least loaded worker takes each turn, and in a cluster of n workers a
 * conversation's next turn finds its beginning about once in n.
 *
 * <p>The key is what every turn of a conversation shares: for a chat its messages up to and including the first
 * user message (a system prompt and the first question), for a completion the prompt's first {@link #KEY_CHARS}
 * characters. Each worker gets a score per key (rendezvous hashing), the highest wins: a key keeps its worker while
 * workers come and go, except when its own worker goes.
 */
public final class PrefixAffinity {
  /** Prompts shorter than this (about 16 tokens) have no affinity: a worker caches no prompt that short. */
  public static final int MIN_CHARS = 64;
  /** Characters of a prompt beginning that make its key. */
  static final int KEY_CHARS = 512;

  private PrefixAffinity() {}

  /** The request's affinity key, or null when its prompt is too short to be cached. */
  public static String key(GenerationRequest request) {
    if (request.chat()) {
      int total = 0;
      for (ChatMessage m : request.messages()) total += m.content() == null ? 0 : m.content().length();
      if (total < MIN_CHARS) return null;
      StringBuilder start = new StringBuilder();
      for (ChatMessage m : request.messages()) {
        if (m.content() != null) start.append(m.content());
        start.append('\n');
        if (m.role().equals("user") || start.length() >= KEY_CHARS) break;
      }
      return start.length() > KEY_CHARS ? start.substring(0, KEY_CHARS) : start.toString();
    }
    String p = request.prompt();
    if (p == null || p.length() < MIN_CHARS) return null;
    return p.length() > KEY_CHARS ? p.substring(0, KEY_CHARS) : p;
  }

  /** The rendezvous score of {@code workerId} for a key whose {@link String#hashCode} is {@code keyHash}. */
  static long score(int keyHash, String workerId) {
    long h = ((long) keyHash << 32) ^ (workerId.hashCode() & 0xffffffffL);
    // MurmurHash3's 64-bit finaliser: every bit of key and worker moves every bit of the score
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h;
  }
}
