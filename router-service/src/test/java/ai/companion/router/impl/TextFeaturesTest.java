package ai.companion.router.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TextFeaturesTest {

  @Test
  void languagesByScriptAndStopwords() {
    assertEquals("en", LanguageDetector.detect("What is the capital of France and why is it there?").language());
    assertEquals("de", LanguageDetector.detect("Wie importiere ich ein Modell in den Knoten und was ist das?").language());
    assertEquals("fr", LanguageDetector.detect("Comment est-ce que je peux importer un modèle dans le noeud?").language());
    assertEquals("es", LanguageDetector.detect("¿Cómo puedo importar un modelo en el nodo para los usuarios?").language());
    assertEquals("it", LanguageDetector.detect("Come posso importare un modello nel nodo della rete?").language());
    assertEquals("nl", LanguageDetector.detect("Hoe kan ik een model importeren in het knooppunt van de cluster?").language());
    assertEquals("ru", LanguageDetector.detect("Как импортировать модель в узел кластера?").language());
    assertEquals("uk", LanguageDetector.detect("Як імпортувати модель у вузол кластера?").language());
    assertEquals("zh", LanguageDetector.detect("如何将模型导入集群节点？").language());
    assertEquals("ja", LanguageDetector.detect("モデルをクラスタにインポートする方法は？").language());
    assertEquals("ko", LanguageDetector.detect("모델을 클러스터로 가져오는 방법은?").language());
    assertEquals("ar", LanguageDetector.detect("كيف أستورد نموذجا إلى العقدة؟").language());
    assertEquals("el", LanguageDetector.detect("Πώς εισάγω ένα μοντέλο;").language());
    assertEquals("und", LanguageDetector.detect("1234 5678 !!!").language());
  }

  @Test
  void questionsAreToldFromCreativeRequests() {
    assertTrue(TextFeatures.questionScore("How do I import a model?") >= 0.9);
    assertTrue(TextFeatures.questionScore("What is the capital of France?") >= 0.9);
    assertTrue(TextFeatures.questionScore("Is the event bus encrypted?") >= 0.7);
    assertTrue(TextFeatures.questionScore("Explain the KV cache") >= 0.3);
    assertTrue(TextFeatures.questionScore("Write a story about a dog") < 0.2);
    assertTrue(TextFeatures.questionScore("Can you tell me a bedtime story about a bunny?") < 0.5);
    assertTrue(TextFeatures.questionScore("Once upon a time there was a girl") < 0.2);
    assertEquals("how", TextFeatures.shape("How do I import a model?"));
    assertEquals("yesno", TextFeatures.shape("Is the bus encrypted?"));
    assertEquals("create", TextFeatures.shape("Write a poem"));
    assertEquals("where", TextFeatures.shape("Où est la gare ?"), "other languages' question words map to ASCII shapes");
  }

  @Test
  void tokenEstimates() {
    assertEquals(0, TextFeatures.estimateTokens(""));
    int en = TextFeatures.estimateTokens("The quick brown fox jumps over the lazy dog.");
    assertTrue(en >= 9 && en <= 14, "got " + en);
    assertEquals(9, TextFeatures.estimateTokens("如何将模型导入集群"), "one per Han character");
    assertEquals(25, TextFeatures.tokensAt("x".repeat(50), 2.0));
  }

  @Test
  void lexicalVectorsAreUnitLengthAndFavourSharedWords() {
    float[] a = LexicalVector.of("the little girl played with her dog in the park");
    float[] b = LexicalVector.of("a girl and a dog play in a park");
    float[] c = LexicalVector.of("circuits hum with electric vectors and nodes");
    assertEquals(1.0, LexicalVector.dot(a, a), 1e-5);
    assertTrue(LexicalVector.dot(a, b) > 0.5);
    assertTrue(LexicalVector.dot(a, c) < 0.1);
  }
}
