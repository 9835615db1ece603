package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.ChatMessage;
import ai.companion.api.GenerationRequest;
import ai.companion.api.SamplingParams;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Validates OpenAI request bodies once, into the api records; everything behind the gateway trusts them.
 * Unknown fields are ignored; known fields this node cannot honour are refused with a clear message rather than
 * silently dropped.
 *
 * <p>Penalties: {@code repetition_penalty} (> 0, 1 = none; the llama.cpp / transformers multiplicative penalty)
 * is supported. OpenAI's additive {@code frequency_penalty} and {@code presence_penalty} have no exact
 * equivalent: 0 (their default) is accepted, any other value is refused with a message pointing at
 * {@code repetition_penalty}.
 *
 * <p>{@code max_tokens} absent means "until end of sequence or the model's context is full" (for chat and for
 * completions alike, as llama.cpp and vLLM do, not OpenAI's legacy 16 for completions).
 */
public final class OpenAiRequests {
  private OpenAiRequests() {}

  /** A parsed generation: the request record plus how the client wants the answer. */
  public record Generation(GenerationRequest request, boolean stream, boolean includeUsage) {}

  /** A parsed embeddings request. */
  public record Embeddings(String model, List<String> input, boolean base64) {}

  public static final int MAX_STOP = 4;
  private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

  public static Generation completion(Buffer body, String requestId) {
    JsonObject j = object(body);
    String model = model(j);
    Object p = j.getValue("prompt");
    String prompt;
    if (p == null) {
      throw missing("prompt", "a string");
    } else if (p instanceof String s) {
      prompt = s;
    } else if (p instanceof JsonArray a) {
      if (a.size() == 1 && a.getValue(0) instanceof String s) {
        prompt = s;
      } else if (!a.isEmpty() && a.stream().allMatch(o -> o instanceof Number || o instanceof JsonArray)) {
        throw ApiException.invalid("unsupported_value", "prompt", "'prompt' as token ids is not supported; send text");
      } else {
        throw ApiException.invalid("unsupported_value", "prompt",
            "'prompt' must be one string (a batch of " + a.size() + " prompts is not supported; send one request each)");
      }
    } else {
      throw wrongType("prompt", "a string", p);
    }
    if (bool(j, "echo", false)) {
      throw ApiException.invalid("unsupported_parameter", "echo", "'echo' is not supported");
    }
    Object suffix = j.getValue("suffix");
    if (suffix != null && !(suffix instanceof String)) throw wrongType("suffix", "a string", suffix);
    if (suffix != null && !((String) suffix).isEmpty()) {
      throw ApiException.invalid("unsupported_parameter", "suffix", "'suffix' (insertion) is not supported");
    }
    Object logprobs = j.getValue("logprobs");
    if (logprobs != null) {
      long lp = integer(j, "logprobs", 0, 0, 5);
      if (lp > 0) throw ApiException.invalid("unsupported_parameter", "logprobs", "'logprobs' is not supported");
    }
    if (j.getValue("best_of") != null && integer(j, "best_of", 1, 1, 20) != 1) {
      throw ApiException.invalid("unsupported_value", "best_of", "'best_of' must be 1; this node returns one choice");
    }
    SamplingParams params = sampling(j, false);
    boolean stream = bool(j, "stream", false);
    boolean usage = streamUsage(j, stream);
    return new Generation(new GenerationRequest(requestId, model, prompt, null, params,
        Addresses.streamAddress(requestId), List.of(), companionHints(j).put("endpoint", "completions")),
        stream, usage);
  }

  public static Generation chat(Buffer body, String requestId) {
    JsonObject j = object(body);
    String model = model(j);
    Object m = j.getValue("messages");
    if (m == null) throw missing("messages", "an array of messages");
    if (!(m instanceof JsonArray arr)) throw wrongType("messages", "an array", m);
    if (arr.isEmpty()) {
      throw ApiException.invalid("empty_array", "messages", "'messages' must hold at least one message");
    }
    List<ChatMessage> messages = new ArrayList<>(arr.size());
    for (int i = 0; i < arr.size(); i++) messages.add(message(arr.getValue(i), i));
    Object logprobs = j.getValue("logprobs");
    if (logprobs != null && !(logprobs instanceof Boolean)) throw wrongType("logprobs", "a boolean", logprobs);
    if (Boolean.TRUE.equals(logprobs)) {
      throw ApiException.invalid("unsupported_parameter", "logprobs", "'logprobs' is not supported");
    }
    Object tools = j.getValue("tools");
    if (tools != null && !(tools instanceof JsonArray)) throw wrongType("tools", "an array", tools);
    if (tools != null && !((JsonArray) tools).isEmpty()) {
      throw ApiException.invalid("unsupported_parameter", "tools", "'tools' (function calling) is not supported");
    }
    Object format = j.getValue("response_format");
    if (format != null) {
      if (!(format instanceof JsonObject f)) throw wrongType("response_format", "an object", format);
      Object type = f.getValue("type");
      if (!"text".equals(type)) {
        throw ApiException.invalid("unsupported_value", "response_format",
            "'response_format' type " + type + " is not supported; only \"text\"");
      }
    }
    SamplingParams params = sampling(j, true);
    boolean stream = bool(j, "stream", false);
    boolean usage = streamUsage(j, stream);
    return new Generation(new GenerationRequest(requestId, model, null, messages, params,
        Addresses.streamAddress(requestId), List.of(), companionHints(j).put("endpoint", "chat")),
        stream, usage);
  }

  public static Embeddings embeddings(Buffer body) {
    JsonObject j = object(body);
    String model = model(j);
    Object in = j.getValue("input");
    List<String> input = new ArrayList<>();
    if (in == null) {
      throw missing("input", "a string or an array of strings");
    } else if (in instanceof String s) {
      input.add(s);
    } else if (in instanceof JsonArray a) {
      if (a.isEmpty()) throw ApiException.invalid("empty_array", "input", "'input' must not be an empty array");
      for (int i = 0; i < a.size(); i++) {
        Object o = a.getValue(i);
        if (o instanceof Number || o instanceof JsonArray) {
          throw ApiException.invalid("unsupported_value", "input", "'input' as token ids is not supported; send text");
        }
        if (!(o instanceof String s)) throw wrongType("input[" + i + "]", "a string", o);
        input.add(s);
      }
    } else {
      throw wrongType("input", "a string or an array of strings", in);
    }
    for (int i = 0; i < input.size(); i++) {
      if (input.get(i).isEmpty()) {
        throw ApiException.invalid("invalid_value", "input", "'input' must not contain empty strings (item " + i + ")");
      }
    }
    Object enc = j.getValue("encoding_format");
    boolean base64 = false;
    if (enc != null) {
      if (!(enc instanceof String e)) throw wrongType("encoding_format", "a string", enc);
      if (e.equals("base64")) {
        base64 = true;
      } else if (!e.equals("float")) {
        throw ApiException.invalid("invalid_value", "encoding_format",
            "'encoding_format' must be \"float\" or \"base64\", got \"" + e + "\"");
      }
    }
    return new Embeddings(model, input, base64);
  }

  // ---- shared pieces

  /**
   * The project's own request extension, {@code "companion": {"latency": "interactive" | "batch"}}: the latency
   * class the routing policy reads (absent: the key's default, else the policy's).
   */
  static JsonObject companionHints(JsonObject j) {
    JsonObject hints = new JsonObject();
    Object c = j.getValue("companion");
    if (c == null) return hints;
    if (!(c instanceof JsonObject o)) throw wrongType("companion", "an object", c);
    Object latency = o.getValue("latency");
    if (latency != null) {
      if (!"interactive".equals(latency) && !"batch".equals(latency)) {
        throw ApiException.invalid("invalid_value", "companion.latency",
            "Invalid value for 'companion.latency': expected \"interactive\" or \"batch\", got " + latency);
      }
      hints.put("latency", latency);
    }
    return hints;
  }

  /** The body as a JSON object, or a 400 saying what is wrong with it. */
  static JsonObject object(Buffer body) {
    if (body == null || body.length() == 0) {
      throw ApiException.invalid("invalid_json", null, "The request body is empty; send a JSON object");
    }
    Object v;
    try {
      v = Json.decodeValue(body);
    } catch (DecodeException e) {
      throw ApiException.invalid("invalid_json", null,
          "We could not parse the JSON body of your request: " + firstLine(e.getMessage()));
    }
    if (!(v instanceof JsonObject j)) {
      throw ApiException.invalid("invalid_json", null, "The request body must be a JSON object, got "
          + typeName(v));
    }
    return j;
  }

  private static String model(JsonObject j) {
    Object m = j.getValue("model");
    if (m == null) throw missing("model", "a model id (see GET /v1/models) or \"auto\"");
    if (!(m instanceof String s)) throw wrongType("model", "a string", m);
    if (s.isBlank()) throw ApiException.invalid("invalid_value", "model", "'model' must not be empty");
    return s;
  }

  private static ChatMessage message(Object o, int i) {
    String at = "messages[" + i + "]";
    if (!(o instanceof JsonObject m)) throw wrongType(at, "an object", o);
    Object r = m.getValue("role");
    if (r == null) throw missing(at + ".role", "one of system, developer, user, assistant, tool");
    if (!(r instanceof String role)) throw wrongType(at + ".role", "a string", r);
    if (!ROLES.contains(role)) {
      throw ApiException.invalid("invalid_value", at + ".role",
          "Invalid value for '" + at + ".role': \"" + role + "\"; expected one of system, developer, user, assistant, tool");
    }
    Object c = m.getValue("content");
    String content;
    if (c == null) {
      if (!role.equals("assistant")) throw missing(at + ".content", "a string");
      content = "";
    } else if (c instanceof String s) {
      content = s;
    } else if (c instanceof JsonArray parts) {
      StringBuilder sb = new StringBuilder();
      for (int k = 0; k < parts.size(); k++) {
        Object part = parts.getValue(k);
        String pat = at + ".content[" + k + "]";
        if (!(part instanceof JsonObject po)) throw wrongType(pat, "an object", part);
        if (!"text".equals(po.getValue("type"))) {
          throw ApiException.invalid("unsupported_value", pat + ".type",
              "Only text content parts are supported, got type " + po.getValue("type"));
        }
        Object text = po.getValue("text");
        if (!(text instanceof String t)) throw wrongType(pat + ".text", "a string", text);
        sb.append(t);
      }
      content = sb.toString();
    } else {
      throw wrongType(at + ".content", "a string or an array of text parts", c);
    }
    // the worker's chat templates know system; developer is OpenAI's newer name for it
    return new ChatMessage(role.equals("developer") ? "system" : role, content);
  }

  private static SamplingParams sampling(JsonObject j, boolean chat) {
    double temperature = decimal(j, "temperature", SamplingParams.DEFAULT_TEMPERATURE);
    if (temperature < 0 || temperature > 2) throw range("temperature", "between 0 and 2", temperature);
    double topP = decimal(j, "top_p", 1.0);
    if (!(topP > 0 && topP <= 1)) throw range("top_p", "in (0, 1]", topP);
    long topK = integer(j, "top_k", 0, 0, Integer.MAX_VALUE);
    Integer maxTokens = null;
    String maxKey = chat && j.getValue("max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens";
    if (j.getValue(maxKey) != null) maxTokens = (int) integer(j, maxKey, 0, 1, Integer.MAX_VALUE);
    if (j.getValue("n") != null && integer(j, "n", 1, 1, 128) != 1) {
      throw ApiException.invalid("unsupported_value", "n", "'n' must be 1; this node returns one choice per request");
    }
    Long seed = j.getValue("seed") == null ? null : integer(j, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
    List<String> stop = stop(j);
    double repetition = decimal(j, "repetition_penalty", 1.0);
    if (!(repetition > 0)) throw range("repetition_penalty", "greater than 0", repetition);
    for (String key : List.of("frequency_penalty", "presence_penalty")) {
      double v = decimal(j, key, 0.0);
      if (v < -2 || v > 2) throw range(key, "between -2 and 2", v);
      if (v != 0) {
        throw ApiException.invalid("unsupported_value", key, "'" + key + "' is not supported (only 0); use "
            + "'repetition_penalty' (> 1 discourages tokens already in the text, 1 = none)");
      }
    }
    Object bias = j.getValue("logit_bias");
    if (bias != null && !(bias instanceof JsonObject)) throw wrongType("logit_bias", "an object", bias);
    if (bias != null && !((JsonObject) bias).isEmpty()) {
      throw ApiException.invalid("unsupported_parameter", "logit_bias", "'logit_bias' is not supported");
    }
    return new SamplingParams(temperature, topP, (int) topK, seed, maxTokens, stop, repetition);
  }

  private static List<String> stop(JsonObject j) {
    Object s = j.getValue("stop");
    if (s == null) return List.of();
    List<String> out = new ArrayList<>();
    if (s instanceof String str) {
      out.add(str);
    } else if (s instanceof JsonArray a) {
      if (a.size() > MAX_STOP) {
        throw ApiException.invalid("invalid_value", "stop",
            "'stop' holds " + a.size() + " sequences; at most " + MAX_STOP + " are allowed");
      }
      for (int i = 0; i < a.size(); i++) {
        Object o = a.getValue(i);
        if (!(o instanceof String str)) throw wrongType("stop[" + i + "]", "a string", o);
        out.add(str);
      }
    } else {
      throw wrongType("stop", "a string or an array of strings", s);
    }
    for (String str : out) {
      if (str.isEmpty()) throw ApiException.invalid("invalid_value", "stop", "'stop' sequences must not be empty");
    }
    return out;
  }

  private static boolean streamUsage(JsonObject j, boolean stream) {
    Object so = j.getValue("stream_options");
    if (so == null) return false;
    if (!(so instanceof JsonObject o)) throw wrongType("stream_options", "an object", so);
    if (!stream) {
      throw ApiException.invalid("invalid_value", "stream_options",
          "'stream_options' is only allowed when 'stream' is true");
    }
    Object iu = o.getValue("include_usage");
    if (iu != null && !(iu instanceof Boolean)) throw wrongType("stream_options.include_usage", "a boolean", iu);
    return Boolean.TRUE.equals(iu);
  }

  private static boolean bool(JsonObject j, String key, boolean dflt) {
    Object v = j.getValue(key);
    if (v == null) return dflt;
    if (!(v instanceof Boolean b)) throw wrongType(key, "a boolean", v);
    return b;
  }

  private static double decimal(JsonObject j, String key, double dflt) {
    Object v = j.getValue(key);
    if (v == null) return dflt;
    if (!(v instanceof Number n)) throw wrongType(key, "a number", v);
    return n.doubleValue();
  }

  private static long integer(JsonObject j, String key, long dflt, long min, long max) {
    Object v = j.getValue(key);
    if (v == null) return dflt;
    if (!(v instanceof Number n)) throw wrongType(key, "an integer", v);
    long value;
    if (n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte) {
      value = n.longValue();
    } else if (n instanceof BigInteger bi) {
      if (bi.bitLength() > 63) throw range(key, "between " + min + " and " + max, bi);
      value = bi.longValue();
    } else {
      BigDecimal bd = new BigDecimal(n.toString());
      if (bd.stripTrailingZeros().scale() > 0) throw wrongType(key, "an integer", v);
      if (bd.abs().compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
        throw range(key, "between " + min + " and " + max, v);
      }
      value = bd.longValueExact();
    }
    if (value < min || value > max) {
      throw range(key, max == Integer.MAX_VALUE || max == Long.MAX_VALUE ? ">= " + min
          : "between " + min + " and " + max, value);
    }
    return value;
  }

  private static ApiException missing(String param, String what) {
    return ApiException.invalid("missing_required_parameter", param,
        "Missing required parameter: '" + param + "' (" + what + ")");
  }

  private static ApiException wrongType(String param, String expected, Object got) {
    return ApiException.invalid("invalid_type", param, "Invalid type for '" + param + "': expected " + expected
        + ", but got " + typeName(got) + " instead");
  }

  private static ApiException range(String param, String expected, Object got) {
    return ApiException.invalid("invalid_value", param, "Invalid value for '" + param + "': must be " + expected
        + ", got " + got);
  }

  private static String typeName(Object v) {
    if (v == null) return "null";
    if (v instanceof String) return "a string";
    if (v instanceof Boolean) return "a boolean";
    if (v instanceof Number) return "a number";
    if (v instanceof JsonArray) return "an array";
    if (v instanceof JsonObject) return "an object";
    return v.getClass().getSimpleName().toLowerCase(Locale.ROOT);
  }

  private static String firstLine(String s) {
    if (s == null) return "malformed JSON";
    int nl = s.indexOf('\n');
    String line = nl < 0 ? s : s.substring(0, nl);
    return line.length() > 300 ? line.substring(0, 300) + "..." : line;
  }
}
