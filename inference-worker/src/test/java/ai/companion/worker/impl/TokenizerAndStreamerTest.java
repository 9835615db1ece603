package ai.companion.worker.impl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.testing.ModelFixtures;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The imported tokenizer.json through the HF tokenizers binding, and the streamer on its real decoder. */
class TokenizerAndStreamerTest {
  @TempDir static Path models;
  static ModelTokenizer tok;

  @BeforeAll static void load() throws Exception {
    Path folder = ModelFixtures.importModel(ModelFixtures.STORIES, models);
    tok = ModelTokenizer.load(folder.resolve("tokenizer.json"), 1);
  }

  @AfterAll static void close() {
    if (tok != null) tok.close();
  }

  @Test void exactlyOneBosAndLlama2cIds() {
    // the oracle's first tokens spell "Once upon a time": llama2.c gives 403 407 261 378
    assertArrayEquals(new int[] {1, 403, 407, 261, 378}, tok.encodeWithBos("Once upon a time"));
    assertArrayEquals(new int[] {1}, tok.encodeWithBos(""));
    assertArrayEquals(new int[0], tok.encode(""));
    int[] ids = tok.encodeWithBos("Hello");
    assertEquals(1, ids[0]);
    for (int i = 1; i < ids.length; i++) assertTrue(ids[i] != 1, "a second BOS at " + i);
  }

  /**
   * Windows of one and two ids are remembered: every remembered answer is what the native decode gives for those
   * ids, however many windows came before (a key mixing the two ids, or their order, would answer for another).
   */
  @Test void rememberedWindowsDecodeAsTheNativeCallDoes() {
    java.util.Random r = new java.util.Random(7);
    int vocab = 512;
    for (int round = 0; round < 2; round++) {         // the second round answers from memory
      for (int a = 0; a < vocab; a++) {
        int[] one = {a};
        assertEquals(tok.decodeNative(one, 0, 1), tok.decode(one, 0, 1), "token " + a);
      }
      java.util.Random pairs = new java.util.Random(11);
      for (int i = 0; i < 3000; i++) {
        int a = pairs.nextInt(vocab);
        int b = pairs.nextInt(vocab);
        int[] ids = {r.nextInt(vocab), a, b, a};
        assertEquals(tok.decodeNative(ids, 1, 3), tok.decode(ids, 1, 3), a + "," + b);
        assertEquals(tok.decodeNative(ids, 2, 4), tok.decode(ids, 2, 4), b + "," + a);
      }
    }
  }

  /** A remembered window costs no allocation (no boxed key, no reflective tree search): it is asked for every token. */
  @Test void aRememberedWindowAllocatesNothing() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    int[] ids = new int[4000];
    java.util.Random r = new java.util.Random(3);
    for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(512);
    for (int round = 0; round < 3; round++) {        // the last round only reads what the first two remembered
      long before = threads.getCurrentThreadAllocatedBytes();
      for (int i = 0; i + 2 <= ids.length; i++) {
        tok.decode(ids, i, i + 1);
        tok.decode(ids, i, i + 2);
      }
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      if (round == 2) assertTrue(allocated < 10_000, allocated + " bytes over 8,000 remembered windows");
    }
  }

  @Test void byteFallbackRoundTrips() {
    String text = "Lily saw a 😀 and said: «ça va?» 日本";
    int[] ids = tok.encodeWithBos(text);
    boolean bytes = false;
    for (int id : ids) bytes |= id >= 3 && id <= 258;
    assertTrue(bytes, "expected <0xNN> byte tokens for characters outside the 512-piece vocabulary");
    assertEquals(text, tok.decode(ids, 0, ids.length));
  }

  @Test void streamingEqualsWholeDecodeAndHoldsBackIncompleteCharacters() {
    String text = " there was a 😀 dog, «ça va?» 日本 Lily";
    int[] context = tok.encodeWithBos("Once upon a time");
    int[] generated = tok.encode(text.substring(1));   // the legacy normalizer prepends the space itself
    TextStreamer streamer = new TextStreamer(tok::decode, context, 64, List.of());
    StringBuilder out = new StringBuilder();
    int ids = 0;
    for (int id : generated) {
      TextStreamer.Chunk c = streamer.push(id);
      assertFalse(c.text().contains("\uFFFD"), "half a character was emitted: " + c.text());
      out.append(c.text());
      ids += c.tokenIds().length;
    }
    TextStreamer.Chunk last = streamer.finish();
    out.append(last.text());
    ids += last.tokenIds().length;
    assertEquals(generated.length, ids);
    int[] all = new int[context.length + generated.length];
    System.arraycopy(context, 0, all, 0, context.length);
    System.arraycopy(generated, 0, all, context.length, generated.length);
    String whole = tok.decode(all, 0, all.length);
    String head = tok.decode(context, 0, context.length);
    assertEquals(whole.substring(head.length()), out.toString());
    assertEquals(text, out.toString());
  }

  @Test void fromBosTheLeadingSpaceIsDropped() {
    TextStreamer streamer = new TextStreamer(tok::decode, new int[] {1}, 16, List.of());
    assertEquals("Once", streamer.push(403).text());
    assertEquals(" upon", streamer.push(407).text());
  }

  @Test void stopSequenceAcrossTokensCutsBeforeIt() {
    int[] context = tok.encodeWithBos("");
    int[] generated = tok.encode("Once upon a time, there was a little girl named Lily.");
    TextStreamer streamer = new TextStreamer(tok::decode, context, 64, List.of("girl named"));
    StringBuilder out = new StringBuilder();
    for (int id : generated) {
      TextStreamer.Chunk c = streamer.push(id);
      out.append(c.text());
      assertFalse(out.toString().contains("girl"), "stop text leaked: " + out);
      if (streamer.stopped()) break;
    }
    assertTrue(streamer.stopped());
    assertEquals("Once upon a time, there was a little ", out.toString());
  }

  @Test void heldBackTailThatDoesNotBecomeAStopIsReleased() {
    TextStreamer streamer = new TextStreamer(tok::decode, new int[] {1}, 64, List.of("time machine"));
    StringBuilder out = new StringBuilder();
    for (int id : tok.encode("Once upon a time, there")) {
      TextStreamer.Chunk c = streamer.push(id);
      out.append(c.text());
    }
    assertFalse(streamer.stopped());
    assertEquals("Once upon a time, there", out.toString());
  }
}
