package ai.companion.router.impl;

import ai.companion.api.ChatMessage;
import ai.companion.api.GenerationRequest;
import ai.companion.api.spi.InputProcessor;
import ai.companion.api.spi.NormalizedInput;
import ai.companion.api.spi.StageContext;
import io.vertx.core.Future;
import java.text.Normalizer;

/**
 * The default input processor: a completion's prompt, or a chat's turns (system and user, the assistant's
 * own turns left out), NFC-normalised with runs of white space collapsed; the query is the last user turn.
 */
public class TextInputProcessor implements InputProcessor {

  @Override
  public String name() {
    return "text-input";
  }

  @Override
  public Future<NormalizedInput> process(GenerationRequest request, StageContext ctx) {
    return Future.succeededFuture(normalize(request));
  }

  public static NormalizedInput normalize(GenerationRequest request) {
    String text;
    String query;
    if (request.chat()) {
      StringBuilder all = new StringBuilder();
      String lastUser = null;
      for (ChatMessage m : request.messages()) {
        if (m.content() == null || "assistant".equals(m.role())) continue;
        if (all.length() > 0) all.append('\n');
        all.append(m.content());
        if ("user".equals(m.role())) lastUser = m.content();
      }
      text = clean(all.toString());
      query = lastUser == null ? text : clean(lastUser);
    } else {
      text = clean(request.prompt() == null ? "" : request.prompt());
      query = text;
    }
    return new NormalizedInput(request.requestId(), text, query, request.params().maxTokens(), request.hints());
  }

  static String clean(String s) {
    String n = Normalizer.isNormalized(s, Normalizer.Form.NFC) ? s : Normalizer.normalize(s, Normalizer.Form.NFC);
    // collapse white space runs in one pass (a regex costs more on long documents)
    StringBuilder b = new StringBuilder(n.length());
    boolean space = false;
    for (int i = 0; i < n.length(); i++) {
      char c = n.charAt(i);
      if (Character.isWhitespace(c)) {
        space = b.length() > 0;
      } else {
        if (space) b.append(' ');
        space = false;
        b.append(c);
      }
    }
    return b.toString();
  }
}
