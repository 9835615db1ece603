package ai.companion.api.spi;

/**
 * What a model is good at, as vectors: the unit-length mean of all-MiniLM-L6-v2 embeddings of texts that
 * describe it (its description, or its own sampled generations), and the same for a hashed bag of words,
 * used when the embedding service cannot answer in time.
 *
 * @param model the model id
 * @param embedding unit-length centroid, or null when no embedding was available
 * @param lexical unit-length hashed term centroid
 * @param source {@code description} or {@code sampled}
 * @param samples texts the centroid was made from
 * @param charsPerToken characters per prompt token on the model's own tokenizer: measured from real prompt
 *     counts when enough came back, else estimated from the model's generations; 0 when unknown
 */
public record DomainProfile(String model, float[] embedding, float[] lexical, String source, int samples,
                            double charsPerToken) {}
