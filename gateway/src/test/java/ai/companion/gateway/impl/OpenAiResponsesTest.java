package ai.companion.gateway.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.api.RouteDecision;
import java.util.List;
import org.junit.jupiter.api.Test;

class OpenAiResponsesTest {

  private static RouteDecision route(String... reasons) {
    return new RouteDecision("stories260K", "w-1", "node-a", "direct", List.of(reasons));
  }

  @Test void aPlainRouteHeaderIsTheDecisionsCompactForm() {
    RouteDecision r = route("short prompt (4 tokens)", "least loaded worker");
    assertEquals("model=stories260K; worker=node-a; strategy=direct; reasons=short prompt (4 tokens) | least loaded "
        + "worker", OpenAiResponses.headerValue(r));
    assertEquals(r.headerValue(), OpenAiResponses.headerValue(r));
  }

  @Test void separatorsInAReasonBecomeSpaces() {
    assertEquals("model=stories260K; worker=node-a; strategy=direct; reasons=a b  c | d",
        OpenAiResponses.headerValue(route("a;b\r\nc", "d")));
  }

  @Test void theHeaderIsPrintableAsciiWhateverTheReasons() {
    // accents dropped (precomposed or not), other letters and a symbol outside the BMP as '?' per UTF-16 unit,
    // a tab as '?'
    assertEquals("model=stories260K; worker=node-a; strategy=direct; reasons=cafe naive | ??? ?? | a?b",
        OpenAiResponses.headerValue(route("caf\u00e9 nai\u0308ve", "\u65e5\u672c\u8a9e \ud83d\ude42", "a\tb")));
  }
}
