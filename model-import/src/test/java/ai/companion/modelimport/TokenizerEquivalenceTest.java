package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.modelimport.impl.Json;
import ai.companion.modelimport.impl.TokenizerFiles;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** tokenizer.json (through Hugging Face tokenizers, via DJL) against the port of run.c's encode. */
class TokenizerEquivalenceTest {
  @TempDir Path tmp;

  static final String STORY = """
      Once upon a time, in a small village by the sea, there lived a girl named Mia. Every morning she \
      walked to the harbor with her dog, Max, to watch the boats come in. "Look!" she said one day. \
      "That boat has a red sail!" Max barked twice and wagged his tail.
      The fisherman, an old man called Tom, waved at them. "Good morning, Mia! Do you want to help me \
      with the nets?" Mia smiled. She loved helping Tom. They worked until the sun was high, and then \
      they ate bread and cheese on the dock. It was the best day ever.

      Later, Mia's mom asked: "Where were you?" Mia laughed: "At the harbor, of course!"
      """;

  static final String PUNCTUATION = """
      Well... can't !  won't ?? It's 'quoted' and "double-quoted"; semi-colons; colons: dashes -- \
      and (parentheses) [brackets] {braces} <angles> / slashes \\ back-slashes | pipes @ at # hash \
      $ dollars % percent ^ caret & ampersand * star + plus = equals ~ tilde ` backtick _ under_score.
      Ellipsis… em—dash – en-dash, «guillemets», „German quotes“, “curly” ‘single’.
         Leading spaces, trailing spaces    \t tabs\there,\r\nCRLF line,
      multiple


      blank lines.""";

  static final String UNICODE_AND_DIGITS = """
      Café, naïve, façade, Ærøskøbing, straße, İstanbul, Ελληνικά, русский текст, עברית, العربية.
      日本語のテキスト、中文文本，한국어 텍스트. Emoji: 🙂 🎉 👩‍💻 🇮🇹 — and math: ∑ ∫ √2 ≈ 1.41421356, π ≈ 3.14159.
      Prices: €5.99, £3, ¥1000, $42.00. Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 12345 1,234,567.89 \
      2026-11-25 15:42:07 +01:00; phone +39 02 1234 5678; 3rd, 4th, 21st; 1e-5, 0x1F, 007.
      Controls \u0001\u0007 and a zero-width joiner\u200d here.""";

  static final List<String> SMALL = List.of("", " ", "  ", "\n", "\t", "a", "A", "Lily", " Lily",
      "Lily ", "can't !", "Hello, world!", "🙂", "日本", "€", "“hi”", "x\ny", "  two  spaces  ");

  @ParameterizedTest
  @ValueSource(strings = {"stories260K", "aidreams260K"})
  void sameIdsAsLlama2cEncode(String folder) throws Exception {
    Llama2cTokenizer llama = Llama2cTokenizer.read(Fixtures.model(folder, "tok512.bin"), 512);
    Path json = tmp.resolve("tokenizer.json");
    Files.writeString(json, Json.write(TokenizerFiles.tokenizerJson(llama)));
    Files.writeString(tmp.resolve("tokenizer_config.json"),
        Json.write(TokenizerFiles.tokenizerConfig(512)));
    List<String> texts = new ArrayList<>(SMALL);
    for (String page : List.of(STORY, PUNCTUATION, UNICODE_AND_DIGITS)) {
      texts.add(page);
      texts.addAll(List.of(page.split("\n")));
    }
    int tokens = 0;
    try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder().optTokenizerPath(json)
        .optAddSpecialTokens(true).optTruncation(false).optPadding(false).build()) {
      for (String text : texts) {
        int[] expected = llama.encode(text, true, false);
        Encoding enc = hf.encode(text);
        long[] got = enc.getIds();
        int[] gotInts = new int[got.length];
        for (int i = 0; i < got.length; i++) gotInts[i] = (int) got[i];
        assertArrayEquals(expected, gotInts, () -> "ids differ for " + Json.write(text));
        tokens += expected.length;
      }
      // round trip through the Hugging Face decoder
      for (String page : List.of(STORY, PUNCTUATION)) {
        assertEquals(page, hf.decode(hf.encode(page).getIds(), true));
      }
    }
    System.out.printf("%s: %d texts, %d tokens, identical ids%n", folder, texts.size(), tokens);
  }
}
