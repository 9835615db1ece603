package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken and foreign inputs: a clear error naming the file, and no model folder left behind. */
class BadInputTest {
  @TempDir Path tmp;
  Path models;
  Path tokenizer;
  Path checkpoint;

  @BeforeEach
  void fixtures() throws Exception {
    models = tmp.resolve("models");
    checkpoint = Fixtures.model("stories260K", "stories260K.bin");
    tokenizer = Fixtures.model("stories260K", "tok512.bin");
  }

  private ModelImportException failsNamingFile(Path checkpoint, Path tokenizer, Path blamed,
      String problem) {
    ModelImportException e = assertThrows(ModelImportException.class,
        () -> ModelImporter.importLlama2c(checkpoint, tokenizer, "m", models, ProgressListener.NONE));
    assertEquals(blamed, e.file());
    assertTrue(e.getMessage().contains(blamed.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(problem), e.getMessage());
    assertNothingLeft();
    System.out.println("ModelImportException: " + e.getMessage());
    return e;
  }

  private void assertNothingLeft() {
    if (!Files.exists(models)) return;
    try (Stream<Path> s = Files.list(models)) {
      List<Path> left = s.toList();
      assertTrue(left.isEmpty(), "left behind: " + left);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void truncatedCheckpoint() throws Exception {
    byte[] all = Files.readAllBytes(checkpoint);
    Path cut = tmp.resolve("cut.bin");
    Files.write(cut, java.util.Arrays.copyOf(all, all.length - 1000));
    var e = failsNamingFile(cut, tokenizer, cut, "truncated");
    assertTrue(e.getMessage().contains("1056540"), e.getMessage()); // bytes the header asks for
  }

  @Test
  void checkpointWithTrailingBytes() throws Exception {
    byte[] all = Files.readAllBytes(checkpoint);
    Path longer = tmp.resolve("longer.bin");
    Files.write(longer, java.util.Arrays.copyOf(all, all.length + 64));
    failsNamingFile(longer, tokenizer, longer, "64 bytes more");
  }

  @Test
  void randomBytes() throws Exception {
    byte[] noise = new byte[300_000];
    new Random(42).nextBytes(noise);
    Path f = tmp.resolve("noise.bin");
    Files.write(f, noise);
    failsNamingFile(f, tokenizer, f, "not a llama2.c checkpoint");
  }

  @Test
  void textFile() throws Exception {
    Path f = tmp.resolve("README.md");
    Files.writeString(f, "# Not a model\n\nJust some text that someone passed by mistake.\n".repeat(50));
    failsNamingFile(f, tokenizer, f, "not a llama2.c checkpoint");
  }

  @Test
  void emptyAndTinyFiles() throws Exception {
    Path f = tmp.resolve("empty.bin");
    Files.write(f, new byte[0]);
    failsNamingFile(f, tokenizer, f, "not a llama2.c checkpoint");
    Files.write(f, new byte[] {0x32, 0x34, 0x6b, 0x61, 2, 0, 0, 0}); // "ak42" v2 magic, then nothing
    failsNamingFile(f, tokenizer, f, "truncated");
  }

  @Test
  void tokenizerWithTooFewTokens() throws Exception {
    Path small = tmp.resolve("tok300.bin");
    Files.write(small, tokenizerPrefix(300, 0));
    failsNamingFile(checkpoint, small, small, "has 300 tokens but the model's vocab_size is 512");
  }

  @Test
  void tokenizerWithTooManyTokens() throws Exception {
    Path big = tmp.resolve("tok520.bin");
    Files.write(big, tokenizerPrefix(512, 8));
    failsNamingFile(checkpoint, big, big, "more than the model's 512 tokens");
  }

  @Test
  void truncatedTokenizer() throws Exception {
    byte[] all = Files.readAllBytes(tokenizer);
    Path cut = tmp.resolve("tok-cut.bin");
    Files.write(cut, java.util.Arrays.copyOf(all, all.length - 3));
    failsNamingFile(checkpoint, cut, cut, "truncated tokenizer");
  }

  @Test
  void checkpointGivenAsTokenizer() throws Exception {
    failsNamingFile(checkpoint, checkpoint, checkpoint, "not a llama2.c tokenizer");
  }

  @Test
  void missingFiles() throws Exception {
    Path none = tmp.resolve("absent.bin");
    failsNamingFile(none, tokenizer, none, "no such checkpoint file");
    Path lonely = tmp.resolve("lonely").resolve("model.bin");
    Files.createDirectories(lonely.getParent());
    Files.copy(checkpoint, lonely);
    failsNamingFile(lonely, null, lonely, "no tokenizer given and no tok512.bin beside");
  }

  @Test
  void badNameAndExistingFolder() throws Exception {
    for (String name : List.of("", "../escape", "a/b", ".hidden")) {
      assertThrows(ModelImportException.class,
          () -> ModelImporter.importLlama2c(checkpoint, tokenizer, name, models, null), name);
    }
    Path existing = models.resolve("m");
    Files.createDirectories(existing);
    Files.writeString(existing.resolve("keep.txt"), "mine");
    ModelImportException e = assertThrows(ModelImportException.class,
        () -> ModelImporter.importLlama2c(checkpoint, tokenizer, "m", models, null));
    assertTrue(e.getMessage().contains("already exists"), e.getMessage());
    assertEquals("mine", Files.readString(existing.resolve("keep.txt")));
    try (Stream<Path> s = Files.list(models)) {
      assertEquals(List.of(existing), s.toList());
    }
  }

  /** A failure half-way through writing (here: the progress listener throws) leaves nothing. */
  @Test
  void failureWhileWritingLeavesNoFolder() {
    ProgressListener exploding = new ProgressListener() {
      @Override
      public void progress(long bytesDone, int tensorsDone) {
        if (tensorsDone == 10) throw new IllegalStateException("disk on fire");
      }
    };
    assertThrows(IllegalStateException.class,
        () -> ModelImporter.importLlama2c(checkpoint, tokenizer, "m", models, exploding));
    assertNothingLeft();
  }

  /** The first {@code n} tokens of the real tokenizer, plus {@code extra} made-up ones. */
  private byte[] tokenizerPrefix(int n, int extra) throws Exception {
    Llama2cTokenizer tok = Llama2cTokenizer.read(tokenizer, 512);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(le(tok.maxTokenLength()));
    for (int i = 0; i < n + extra; i++) {
      byte[] piece = i < n ? tok.pieceBytes(i) : ("x" + i).getBytes();
      out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
          .putFloat(i < n ? tok.score(i) : -1000f - i).array());
      out.write(le(piece.length));
      out.write(piece);
    }
    return out.toByteArray();
  }

  private static byte[] le(int v) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
  }
}
