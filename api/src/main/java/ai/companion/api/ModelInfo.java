package ai.companion.api;

import io.vertx.core.json.JsonObject;

/**
 * What a worker says about a model it serves.
 *
 * @param id the model id users name (the model folder's name)
 * @param family config.json's model_type, e.g. {@code llama}
 * @param contextLength the most tokens (prompt + generated) one sequence may hold
 * @param parameters weight count, for routing by size
 * @param variant fp32, int8 or int4
 * @param description free text from the model folder (companion.json), may be empty
 */
public record ModelInfo(String id, String family, int contextLength, long parameters, String variant,
                        String description) {

  public JsonObject toJson() {
    return new JsonObject().put("id", id).put("family", family).put("contextLength", contextLength)
        .put("parameters", parameters).put("variant", variant).put("description", description);
  }

  public static ModelInfo fromJson(JsonObject j) {
    return new ModelInfo(j.getString("id"), j.getString("family"), j.getInteger("contextLength", 0),
        j.getLong("parameters", 0L), j.getString("variant"), j.getString("description", ""));
  }
}
