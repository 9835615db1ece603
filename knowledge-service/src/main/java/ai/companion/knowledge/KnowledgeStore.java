package ai.companion.knowledge;

import ai.companion.api.spi.Embedder;
import ai.companion.knowledge.impl.Chunker;
import ai.companion.knowledge.impl.GraphExtractor;
import ai.companion.knowledge.impl.TextExtractor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.FloatVectorValues;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.IndexableField;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.ReaderUtil;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.queryparser.classic.ParseException;
import org.apache.lucene.queryparser.classic.QueryParser;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.ConstantScoreQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.SearcherManager;
import org.apache.lucene.search.TermInSetQuery;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.util.BytesRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable knowledge store: one Lucene index under {@code dataDir/knowledge/index} holding, per document,
 * its chunks (BM25 text + HNSW vector), a document record, and its knowledge-graph entities and edges. Every
 * Lucene document of a source document carries the same {@code doc_key} (tenant + id), so replacing a document
 * is one {@link IndexWriter#updateDocuments} followed by one commit: readers and crashes see the old version or
 * the new one, never a mix.
 *
 * <p>All methods block (embedding, Lucene I/O, fsync): call them from worker threads. They are thread-safe;
 * writes are serialised.
 */
public final class KnowledgeStore implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KnowledgeStore.class);

  public static final String PUBLIC = "public";
  public static final String FORMAT_VERSION = "1";
  /** Commit data: the {@link Embedder#id()} the index's vectors came from. */
  static final String COMMIT_EMBEDDER = "embedder";
  /** Chunks embedded in one run while re-embedding. */
  private static final int REEMBED_BATCH = 64;

  static final String F_TYPE = "type";
  static final String F_DOC_KEY = "doc_key";
  static final String F_DOCUMENT_ID = "document_id";
  static final String F_TENANT = "tenant";
  static final String F_CHUNK_ID = "chunk_id";
  static final String F_CHUNK_NO = "chunk_no";
  static final String F_TITLE = "title";
  static final String F_HEADING = "heading";
  static final String F_TEXT = "text";
  static final String F_BODY = "body";
  static final String F_VECTOR = "vec";
  static final String F_MENTIONS = "ment";
  static final String F_CHUNKS = "chunks";
  static final String F_FORMAT = "format";
  static final String F_INGESTED_AT = "ingested_at";
  static final String F_ENTITY_KEY = "ekey";
  static final String F_NAME = "name";
  static final String F_KIND = "kind";
  static final String F_SRC = "src";
  static final String F_DST = "dst";
  static final String F_SRC_NAME = "src_name";
  static final String F_DST_NAME = "dst_name";
  static final String F_REL = "rel";
  static final String F_EVIDENCE = "evidence";

  static final String T_CHUNK = "chunk";
  static final String T_DOC = "doc";
  static final String T_ENTITY = "entity";
  static final String T_EDGE = "edge";

  /** Reciprocal rank fusion constant (the usual 60). */
  static final int RRF_K = 60;
  static final double W_VECTOR = 1.0;
  static final double W_BM25 = 1.0;
  static final double W_GRAPH = 1.0;

  /** A document to ingest. {@code format} is text, markdown or html. */
  public record SourceDocument(String id, String title, String text, String format) {}

  /** One search result; {@code similarity} is the cosine of query and chunk, {@code score} the fused rank score. */
  public record Hit(String documentId, String chunkId, String title, String heading, String text, double score,
                    double similarity, double bm25, List<String> graph, String tenant) {}

  /** Hits, best first, and the best cosine similarity any chunk reached (for gaps and coverage). */
  public record SearchResult(List<Hit> hits, double bestSimilarity, float[] queryVector, List<String> seeds) {}

  /** What the store holds, over all tenants. */
  public record Stats(long documents, long chunks, long entities, long edges) {}

  /** A stored chunk, for checks. */
  public record StoredChunk(String documentId, String chunkId, int chunkNo, String text) {}

  private final Embedder embedder;
  private final KnowledgeOptions options;
  private final Directory dir;
  private final IndexWriter writer;
  private final SearcherManager searchers;
  private final Analyzer analyzer = new EnglishAnalyzer();
  private final Chunker chunker;
  private final ReentrantLock writeLock = new ReentrantLock();
  private volatile String failure;

  private KnowledgeStore(KnowledgeOptions options, Embedder embedder, UnaryOperator<Directory> wrap)
      throws IOException {
    this.options = options;
    this.embedder = embedder;
    this.chunker = new Chunker(options.getChunkChars(), Math.min(options.getChunkOverlapChars(),
        options.getChunkChars() - 1));
    Path indexDir = options.storeDir().resolve("index");
    Files.createDirectories(indexDir);
    dir = wrap.apply(FSDirectory.open(indexDir));
    IndexWriterConfig cfg = new IndexWriterConfig(analyzer);
    cfg.setOpenMode(IndexWriterConfig.OpenMode.CREATE_OR_APPEND);
    cfg.setCommitOnClose(false);   // only explicit commits count; close after a failure must not publish half work
    writer = new IndexWriter(dir, cfg);
    if (DirectoryReader.indexExists(dir)) {
      List<org.apache.lucene.index.IndexCommit> commits = DirectoryReader.listCommits(dir);
      String built = commits.get(commits.size() - 1).getUserData().get(COMMIT_EMBEDDER);
      if (built != null && !built.equals(embedder.id())) {
        try {
          reembed(built);
        } catch (IOException | RuntimeException e) {
          dir.close();
          throw e;
        }
      }
    }
    searchers = new SearcherManager(writer, null);
    LOG.info("Knowledge store open at {} ({} chunks)", indexDir, stats().chunks());
  }

  public static KnowledgeStore open(KnowledgeOptions options, Embedder embedder) throws IOException {
    return new KnowledgeStore(new KnowledgeOptions(options), embedder, UnaryOperator.identity());
  }

  /** For fault-injection tests: the index directory goes through {@code wrap}. */
  static KnowledgeStore open(KnowledgeOptions options, Embedder embedder, UnaryOperator<Directory> wrap)
      throws IOException {
    return new KnowledgeStore(new KnowledgeOptions(options), embedder, wrap);
  }

  public Embedder embedder() { return embedder; }

  public KnowledgeOptions options() { return options; }

  // ------------------------------------------------------------------------------------------ ingestion

  /**
   * Extracts, chunks, embeds and indexes the documents, replacing any earlier version of the same id in the same
   * tenant, and returns once they are committed durably. Returns the ids in order.
   */
  public List<String> ingest(String tenant, List<SourceDocument> docs) throws IOException {
    checkTenant(tenant);
    long t0 = System.nanoTime();
    List<List<Document>> perDoc = new ArrayList<>();
    List<String> embedInputs = new ArrayList<>();
    List<Document> chunkDocs = new ArrayList<>();
    long now = System.currentTimeMillis();
    List<TextExtractor.Extracted> extracted = new ArrayList<>();
    List<List<Chunker.Chunk>> chunked = new ArrayList<>();
    List<Chunker.Chunk> allChunks = new ArrayList<>();
    for (SourceDocument d : docs) {
      validate(d);
      TextExtractor.Extracted ex = TextExtractor.extract(d.text(), d.format());
      extracted.add(ex);
      List<Chunker.Chunk> chunks = chunker.chunk(ex.sections());
      chunked.add(chunks);
      allChunks.addAll(chunks);
    }
    // names anywhere in this batch or already in the store are recognised in every document of the batch
    Set<String> known = knownNames(tenant, allChunks);
    for (int di = 0; di < docs.size(); di++) {
      SourceDocument d = docs.get(di);
      TextExtractor.Extracted ex = extracted.get(di);
      String title = d.title() != null && !d.title().isBlank() ? d.title().strip()
          : ex.title() != null ? ex.title() : d.id();
      List<Chunker.Chunk> chunks = chunked.get(di);
      String key = docKey(tenant, d.id());
      List<Document> lucene = new ArrayList<>();
      Map<String, GraphExtractor.Entity> entities = new LinkedHashMap<>();
      Map<String, Integer> entityMentions = new HashMap<>();
      for (int i = 0; i < chunks.size(); i++) {
        Chunker.Chunk c = chunks.get(i);
        String chunkId = d.id() + "#" + i;
        GraphExtractor.Extraction g = GraphExtractor.extract(c.text(), known);
        Document doc = chunkDocument(tenant, d.id(), chunkId, i, title, c.heading(), c.text(),
            g.entities().stream().map(GraphExtractor.Entity::key).toList());
        for (GraphExtractor.Entity e : g.entities()) {
          entities.putIfAbsent(e.key(), e);
          entityMentions.merge(e.key(), 1, Integer::sum);
        }
        for (GraphExtractor.Relation r : g.relations()) {
          Document edge = base(T_EDGE, key, tenant, d.id());
          edge.add(new StringField(F_SRC, r.src(), Field.Store.YES));
          edge.add(new StringField(F_DST, r.dst(), Field.Store.YES));
          edge.add(new StringField(F_REL, r.rel(), Field.Store.YES));
          edge.add(new StoredField(F_SRC_NAME, r.srcName()));
          edge.add(new StoredField(F_DST_NAME, r.dstName()));
          edge.add(new StoredField("edge_chunk", chunkId));
          edge.add(new StoredField(F_EVIDENCE, r.sentence()));
          lucene.add(edge);
        }
        lucene.add(doc);
        chunkDocs.add(doc);
        embedInputs.add(embeddingText(title, c.heading(), c.text()));
      }
      for (GraphExtractor.Entity e : entities.values()) {
        Document ent = base(T_ENTITY, key, tenant, d.id());
        ent.add(new StringField(F_ENTITY_KEY, e.key(), Field.Store.YES));
        ent.add(new StoredField(F_NAME, e.name()));
        ent.add(new StringField(F_KIND, e.kind(), Field.Store.YES));
        ent.add(new StoredField("mentions", entityMentions.getOrDefault(e.key(), 1)));
        lucene.add(ent);
      }
      Document marker = base(T_DOC, key, tenant, d.id());
      marker.add(new StoredField(F_TITLE, title));
      marker.add(new StoredField(F_CHUNKS, chunks.size()));
      marker.add(new StoredField(F_FORMAT, d.format()));
      marker.add(new StoredField(F_INGESTED_AT, now));
      lucene.add(marker);
      perDoc.add(lucene);
    }
    long t1 = System.nanoTime();
    float[][] vectors = embedInputs.isEmpty() ? new float[0][] : embedder.embed(embedInputs);
    for (int i = 0; i < vectors.length; i++) {
      chunkDocs.get(i).add(new KnnFloatVectorField(F_VECTOR, vectors[i], VectorSimilarityFunction.DOT_PRODUCT));
    }
    long t2 = System.nanoTime();
    writeLock.lock();
    if (failure != null) {
      writeLock.unlock();
      throw new IllegalStateException("knowledge store is out of service after " + failure + "; restart the node");
    }
    try {
      for (int i = 0; i < docs.size(); i++) {
        writer.updateDocuments(new Term(F_DOC_KEY, docKey(tenant, docs.get(i).id())), perDoc.get(i));
      }
      writer.setLiveCommitData(commitData());
      writer.commit();   // durable from here on: only now may the caller acknowledge
      searchers.maybeRefreshBlocking();
    } catch (IOException | RuntimeException e) {
      // everything was validated and embedded before the lock, so this is I/O trouble (disk full, ...). Drop what
      // this batch buffered so no later commit can publish it half done; the store stays closed for writes.
      failure = e.toString();
      LOG.error("knowledge store write failed; rolling back to the last commit", e);
      rollBack(e);
      throw e;
    } finally {
      writeLock.unlock();
    }
    long t3 = System.nanoTime();
    LOG.debug("ingested {} documents, {} chunks: extract {} ms, embed {} ms, commit {} ms", docs.size(),
        embedInputs.size(), (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000);
    return docs.stream().map(SourceDocument::id).toList();
  }

  /**
   * Names to recognise in a document even where it writes them in lower case: names its own sentences reveal
   * (capitalised, or the subject of a definition), and names the store already knows that the text contains.
   */
  private Set<String> knownNames(String tenant, List<Chunker.Chunk> chunks) throws IOException {
    Set<String> known = new HashSet<>();
    StringBuilder all = new StringBuilder();
    for (Chunker.Chunk c : chunks) {
      for (GraphExtractor.Entity e : GraphExtractor.extract(c.text()).entities()) {
        if ("name".equals(e.kind())) known.add(e.key());
      }
      if (all.length() < 1_000_000) all.append(c.text()).append("\n\n");
    }
    Set<String> candidates = GraphExtractor.queryKeys(all.toString());
    if (candidates.isEmpty()) return known;
    IndexSearcher s = searchers.acquire();
    try {
      BooleanQuery q = new BooleanQuery.Builder()
          .add(new TermInSetQuery(F_ENTITY_KEY, candidates.stream().map(BytesRef::new).toList()),
              BooleanClause.Occur.MUST)
          .add(new TermQuery(new Term(F_KIND, "name")), BooleanClause.Occur.FILTER)
          .add(typeTenantFilter(T_ENTITY, tenant), BooleanClause.Occur.FILTER).build();
      StoredFields stored = s.storedFields();
      for (ScoreDoc sd : s.search(q, 10_000).scoreDocs) known.add(stored.document(sd.doc).get(F_ENTITY_KEY));
    } finally {
      searchers.release(s);
    }
    return known;
  }

  static String embeddingText(String title, String heading, String text) {
    StringBuilder sb = new StringBuilder();
    if (title != null && !title.isEmpty()) sb.append(title).append(". ");
    if (heading != null && !heading.isEmpty() && !heading.equals(title)) sb.append(heading).append(". ");
    return sb.append(text).toString();
  }

  /** A chunk's document, without its vector; ingestion and re-embedding both build it here. */
  private static Document chunkDocument(String tenant, String documentId, String chunkId, int chunkNo, String title,
                                        String heading, String text, List<String> mentions) {
    Document doc = base(T_CHUNK, docKey(tenant, documentId), tenant, documentId);
    doc.add(new StringField(F_CHUNK_ID, chunkId, Field.Store.YES));
    doc.add(new StoredField(F_CHUNK_NO, chunkNo));
    doc.add(new StoredField(F_TITLE, title));
    doc.add(new StoredField(F_HEADING, heading));
    doc.add(new StoredField(F_TEXT, text));
    doc.add(new TextField(F_BODY, title + "\n" + heading + "\n" + text, Field.Store.NO));
    for (String m : mentions) doc.add(new StringField(F_MENTIONS, m, Field.Store.YES));
    return doc;
  }

  private Iterable<Map.Entry<String, String>> commitData() {
    return Map.of(COMMIT_EMBEDDER, embedder.id(), "format", FORMAT_VERSION).entrySet();
  }

  /**
   * The index's chunk vectors came from another embedder (e.g. the fp32 MiniLM before the int8 one became the
   * default): a query's vector is only comparable with vectors of the same model and variant (cosine 0.99 between
   * the MiniLM variants, enough to shift near ties in the ranking), so every chunk is embedded again from its
   * stored text and replaced, and the commit that publishes all of it names the new embedder. One commit: a crash
   * halfway leaves the old index whole, and the next start does it again. (The learning log's question vectors
   * stay as they were: patterns join at a cosine of 0.72, far coarser than the 0.99 between the two variants.)
   */
  private void reembed(String built) throws IOException {
    long t0 = System.nanoTime();
    int done = 0;
    try (DirectoryReader reader = DirectoryReader.open(writer)) {
      IndexSearcher s = new IndexSearcher(reader);
      StoredFields stored = s.storedFields();
      ScoreDoc[] all = s.search(new TermQuery(new Term(F_TYPE, T_CHUNK)), Math.max(1, reader.maxDoc())).scoreDocs;
      for (int from = 0; from < all.length; from += REEMBED_BATCH) {
        List<Document> docs = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        List<Query> olds = new ArrayList<>();
        for (int i = from; i < Math.min(all.length, from + REEMBED_BATCH); i++) {
          Document old = stored.document(all[i].doc);
          String tenant = old.get(F_TENANT);
          String id = old.get(F_DOCUMENT_ID);
          String title = old.get(F_TITLE);
          String heading = old.get(F_HEADING);
          String text = old.get(F_TEXT);
          docs.add(chunkDocument(tenant, id, old.get(F_CHUNK_ID), old.getField(F_CHUNK_NO).numericValue().intValue(),
              title, heading, text, List.of(old.getValues(F_MENTIONS))));
          texts.add(embeddingText(title, heading, text));
          olds.add(new BooleanQuery.Builder()
              .add(new TermQuery(new Term(F_DOC_KEY, docKey(tenant, id))), BooleanClause.Occur.FILTER)
              .add(new TermQuery(new Term(F_CHUNK_ID, old.get(F_CHUNK_ID))), BooleanClause.Occur.FILTER)
              .add(new TermQuery(new Term(F_TYPE, T_CHUNK)), BooleanClause.Occur.FILTER).build());
        }
        float[][] vectors = embedder.embed(texts);
        for (int i = 0; i < docs.size(); i++) {
          docs.get(i).add(new KnnFloatVectorField(F_VECTOR, vectors[i], VectorSimilarityFunction.DOT_PRODUCT));
          writer.deleteDocuments(olds.get(i));   // applies to documents added before it, not to the one below
          writer.addDocument(docs.get(i));
        }
        done += docs.size();
      }
      writer.setLiveCommitData(commitData());
      writer.commit();
    } catch (IOException | RuntimeException e) {
      rollBack(e);   // nothing of it published; the old vectors stay until the next start tries again
      throw e;
    }
    LOG.info("Knowledge index was embedded with {}; embedded its {} chunks again with {} in {} ms", built, done,
        embedder.id(), (System.nanoTime() - t0) / 1_000_000);
  }

  /** Drops what the writer buffered since the last commit (and closes it); a failure to do so rides on {@code cause}. */
  private void rollBack(Exception cause) {
    try {
      writer.rollback();
    } catch (IOException re) {
      cause.addSuppressed(re);
    }
  }

  private static Document base(String type, String key, String tenant, String id) {
    Document d = new Document();
    d.add(new StringField(F_TYPE, type, Field.Store.YES));
    d.add(new StringField(F_DOC_KEY, key, Field.Store.NO));
    d.add(new StringField(F_TENANT, tenant, Field.Store.YES));
    d.add(new StringField(F_DOCUMENT_ID, id, Field.Store.YES));
    return d;
  }

  private void validate(SourceDocument d) {
    if (d.id() == null || d.id().isBlank()) throw new IllegalArgumentException("document id must not be empty");
    if (d.text() == null) throw new IllegalArgumentException("document '" + d.id() + "' has no text");
    if (d.text().length() > options.getMaxDocumentChars()) {
      throw new IllegalArgumentException("document '" + d.id() + "' has " + d.text().length()
          + " characters; at most " + options.getMaxDocumentChars() + " are allowed");
    }
    if (!Set.of("text", "markdown", "html").contains(d.format())) {
      throw new IllegalArgumentException("document '" + d.id() + "' has format '" + d.format()
          + "'; use text, markdown or html");
    }
  }

  static String docKey(String tenant, String id) {
    return tenant + "\u001f" + id;
  }

  static void checkTenant(String tenant) {
    if (tenant == null || !tenant.matches("[A-Za-z0-9._@-]{1,128}")) {
      throw new IllegalArgumentException("tenant must be 1-128 characters of letters, digits, . _ @ -, got '"
          + tenant + "'");
    }
  }

  // ------------------------------------------------------------------------------------------ search

  /** Hybrid search for a tenant: its own chunks and the public ones. */
  public SearchResult search(String tenant, String query, int k, boolean graph) throws IOException {
    checkTenant(tenant);
    if (query == null || query.isBlank()) throw new IllegalArgumentException("query must not be empty");
    if (k < 1 || k > options.getMaxK()) {
      throw new IllegalArgumentException("k must be in [1, " + options.getMaxK() + "], got " + k);
    }
    float[] qv = embedder.embed(query);
    IndexSearcher s = searchers.acquire();
    try {
      Query filter = chunkFilter(tenant);
      int fetch = Math.max(k * 4, 20);
      Map<Integer, double[]> fused = new HashMap<>();   // doc -> {rrf, similarity, bm25}
      Map<Integer, List<String>> paths = new HashMap<>();

      TopDocs vec = s.search(new KnnFloatVectorQuery(F_VECTOR, qv, fetch, filter), fetch);
      double best = -1;
      for (int r = 0; r < vec.scoreDocs.length; r++) {
        ScoreDoc sd = vec.scoreDocs[r];
        double sim = 2 * sd.score - 1;   // DOT_PRODUCT scores are (1 + dot) / 2
        best = Math.max(best, sim);
        double[] f = fused.computeIfAbsent(sd.doc, x -> new double[] {0, Double.NaN, 0});
        f[0] += W_VECTOR / (RRF_K + r + 1);
        f[1] = sim;
      }
      Query lexical = lexical(query);
      if (lexical != null) {
        BooleanQuery q = new BooleanQuery.Builder().add(lexical, BooleanClause.Occur.MUST)
            .add(filter, BooleanClause.Occur.FILTER).build();
        TopDocs lex = s.search(q, fetch);
        for (int r = 0; r < lex.scoreDocs.length; r++) {
          ScoreDoc sd = lex.scoreDocs[r];
          double[] f = fused.computeIfAbsent(sd.doc, x -> new double[] {0, Double.NaN, 0});
          f[0] += W_BM25 / (RRF_K + r + 1);
          f[2] = sd.score;
        }
      }
      List<String> seedNames = List.of();
      if (graph) {
        GraphHits gh = graphHits(s, tenant, query, fetch);
        seedNames = gh.seedNames;
        for (int r = 0; r < gh.docs.size(); r++) {
          int doc = gh.docs.get(r);
          double[] f = fused.computeIfAbsent(doc, x -> new double[] {0, Double.NaN, 0});
          f[0] += W_GRAPH / (RRF_K + r + 1);
        }
        paths.putAll(gh.paths);
      }
      List<Map.Entry<Integer, double[]>> ranked = new ArrayList<>(fused.entrySet());
      ranked.sort(Comparator.<Map.Entry<Integer, double[]>>comparingDouble(e -> -e.getValue()[0])
          .thenComparingInt(Map.Entry::getKey));
      List<Hit> hits = new ArrayList<>();
      StoredFields stored = s.storedFields();
      for (Map.Entry<Integer, double[]> e : ranked.subList(0, Math.min(k, ranked.size()))) {
        Document d = stored.document(e.getKey());
        double sim = Double.isNaN(e.getValue()[1]) ? similarity(s, e.getKey(), qv) : e.getValue()[1];
        hits.add(new Hit(d.get(F_DOCUMENT_ID), d.get(F_CHUNK_ID), d.get(F_TITLE), d.get(F_HEADING), d.get(F_TEXT),
            e.getValue()[0], sim, e.getValue()[2], paths.getOrDefault(e.getKey(), List.of()), d.get(F_TENANT)));
      }
      return new SearchResult(hits, best, qv, seedNames);
    } finally {
      searchers.release(s);
    }
  }

  /** The best cosine similarity any visible chunk has with the query (-1 when there are none). */
  public double bestSimilarity(String tenant, String query) throws IOException {
    float[] qv = embedder.embed(query);
    return bestSimilarity(tenant, qv);
  }

  public double bestSimilarity(String tenant, float[] qv) throws IOException {
    IndexSearcher s = searchers.acquire();
    try {
      // HNSW explores about k candidates: k = 1 is too greedy to find the true nearest chunk reliably
      TopDocs top = s.search(new KnnFloatVectorQuery(F_VECTOR, qv, 20, chunkFilter(tenant)), 1);
      return top.scoreDocs.length == 0 ? -1 : 2 * top.scoreDocs[0].score - 1;
    } finally {
      searchers.release(s);
    }
  }

  private Query chunkFilter(String tenant) {
    BooleanQuery.Builder tenants = new BooleanQuery.Builder()
        .add(new TermQuery(new Term(F_TENANT, tenant)), BooleanClause.Occur.SHOULD);
    if (!PUBLIC.equals(tenant)) tenants.add(new TermQuery(new Term(F_TENANT, PUBLIC)), BooleanClause.Occur.SHOULD);
    return new BooleanQuery.Builder()
        .add(new TermQuery(new Term(F_TYPE, T_CHUNK)), BooleanClause.Occur.FILTER)
        .add(tenants.setMinimumNumberShouldMatch(1).build(), BooleanClause.Occur.FILTER).build();
  }

  private Query typeTenantFilter(String type, String tenant) {
    BooleanQuery.Builder tenants = new BooleanQuery.Builder()
        .add(new TermQuery(new Term(F_TENANT, tenant)), BooleanClause.Occur.SHOULD);
    if (!PUBLIC.equals(tenant)) tenants.add(new TermQuery(new Term(F_TENANT, PUBLIC)), BooleanClause.Occur.SHOULD);
    return new BooleanQuery.Builder()
        .add(new TermQuery(new Term(F_TYPE, type)), BooleanClause.Occur.FILTER)
        .add(tenants.setMinimumNumberShouldMatch(1).build(), BooleanClause.Occur.FILTER).build();
  }

  private Query lexical(String query) {
    try {
      QueryParser p = new QueryParser(F_BODY, analyzer);
      Query q = p.parse(QueryParser.escape(query));
      if (q instanceof BooleanQuery bq && bq.clauses().isEmpty()) return null;
      return q;
    } catch (ParseException e) {
      return null;   // only stop words or nothing searchable: the vector side still answers
    }
  }

  private double similarity(IndexSearcher s, int doc, float[] qv) throws IOException {
    List<LeafReaderContext> leaves = s.getIndexReader().leaves();
    LeafReaderContext leaf = leaves.get(ReaderUtil.subIndex(doc, leaves));
    FloatVectorValues values = leaf.reader().getFloatVectorValues(F_VECTOR);
    if (values == null || values.advance(doc - leaf.docBase) != doc - leaf.docBase) return -1;
    float[] v = values.vectorValue();
    double dot = 0;
    for (int i = 0; i < v.length; i++) dot += v[i] * qv[i];
    return dot;
  }

  // ------------------------------------------------------------------------------------------ graph

  private record GraphHits(List<Integer> docs, Map<Integer, List<String>> paths, List<String> seedNames) {}

  private record Neighbour(String key, String path, boolean pattern, String relation) {}

  private int mentionCount(IndexSearcher s, String tenant, String key) throws IOException {
    return s.count(new BooleanQuery.Builder().add(new TermQuery(new Term(F_MENTIONS, key)), BooleanClause.Occur.MUST)
        .add(chunkFilter(tenant), BooleanClause.Occur.FILTER).build());
  }

  /** Lower-case word prefixes (4 letters) of the content words: a crude stemmer for matching relation labels. */
  private static Set<String> stems(String text) {
    Set<String> out = new HashSet<>();
    for (String w : text.toLowerCase(java.util.Locale.ROOT).split("[^\\p{L}\\p{N}]+")) {
      if (w.length() < 3 || GraphExtractor.isStopWord(w)) continue;
      out.add(w.length() > 4 ? w.substring(0, 4) : w);
    }
    return out;
  }

  private static double overlap(String relation, Set<String> qWords) {
    Set<String> r = stems(relation);
    if (r.isEmpty()) return 0;
    long shared = r.stream().filter(qWords::contains).count();
    return (double) shared / r.size();
  }

  /**
   * Chunks reached through the knowledge graph: chunks that mention an entity named in the question (seeds), then
   * chunks that mention an entity one edge away from a seed. Each carries the path that led to it.
   */
  private GraphHits graphHits(IndexSearcher s, String tenant, String query, int fetch) throws IOException {
    Set<String> candidates = GraphExtractor.queryKeys(query);
    if (candidates.isEmpty()) return new GraphHits(List.of(), Map.of(), List.of());
    List<BytesRef> refs = candidates.stream().map(BytesRef::new).toList();
    BooleanQuery eq = new BooleanQuery.Builder()
        .add(new TermInSetQuery(F_ENTITY_KEY, refs), BooleanClause.Occur.MUST)
        .add(typeTenantFilter(T_ENTITY, tenant), BooleanClause.Occur.FILTER).build();
    TopDocs found = s.search(eq, 200);
    Map<String, String> seeds = new LinkedHashMap<>();   // key -> display name
    StoredFields stored = s.storedFields();
    int chunks = Math.max(1, s.count(chunkFilter(tenant)));
    Map<String, Double> idf = new HashMap<>();
    for (ScoreDoc sd : found.scoreDocs) {
      Document d = stored.document(sd.doc);
      String key = d.get(F_ENTITY_KEY);
      if (seeds.containsKey(key)) continue;
      // an entity that many chunks mention ("model", "node") says little about which chunk answers
      int df = mentionCount(s, tenant, key);
      if (df == 0 || (chunks >= 10 && df > chunks / 4)) continue;
      seeds.put(key, d.get(F_NAME));
      idf.put(key, Math.log(1 + (double) chunks / df));
    }
    // prefer the longest matches: "knowledge service" over "service"
    seeds.keySet().removeIf(k -> seeds.keySet().stream().anyMatch(o -> !o.equals(k) && (" " + o + " ").contains(" " + k + " ")));
    if (seeds.isEmpty()) return new GraphHits(List.of(), Map.of(), List.of());

    Map<String, Neighbour> neighbours = new LinkedHashMap<>();
    List<BytesRef> seedRefs = seeds.keySet().stream().map(BytesRef::new).toList();
    BooleanQuery edgesQ = new BooleanQuery.Builder()
        .add(new BooleanQuery.Builder()
            .add(new TermInSetQuery(F_SRC, seedRefs), BooleanClause.Occur.SHOULD)
            .add(new TermInSetQuery(F_DST, seedRefs), BooleanClause.Occur.SHOULD)
            .setMinimumNumberShouldMatch(1).build(), BooleanClause.Occur.MUST)
        .add(typeTenantFilter(T_EDGE, tenant), BooleanClause.Occur.FILTER).build();
    TopDocs edges = s.search(edgesQ, 500);
    for (ScoreDoc sd : edges.scoreDocs) {
      Document d = stored.document(sd.doc);
      String src = d.get(F_SRC);
      String dst = d.get(F_DST);
      String rel = d.get(F_REL);
      boolean fromSeed = seeds.containsKey(src);
      String other = fromSeed ? dst : src;
      if (seeds.containsKey(other)) continue;
      String path = d.get(F_SRC_NAME) + " -[" + rel + "]-> " + d.get(F_DST_NAME);
      boolean pattern = !GraphExtractor.CO_OCCURS.equals(rel);
      Neighbour prev = neighbours.get(other);
      if (prev == null || (pattern && !prev.pattern())) neighbours.put(other, new Neighbour(other, path, pattern, rel));
    }
    // a neighbour counts by how specific it is and by how well the relation that leads to it matches the
    // question ("stores all cluster state in" for "the store that holds the cluster state"); co-occurrence is weak
    Set<String> qWords = stems(query);
    Map<String, Double> weight = new HashMap<>();
    for (Neighbour n : neighbours.values()) {
      int df = mentionCount(s, tenant, n.key());
      if (df == 0 || (chunks >= 10 && df > chunks / 4)) continue;
      double specific = Math.log(1 + (double) chunks / df);
      weight.put(n.key(), specific * (n.pattern() ? 0.5 + overlap(n.relation(), qWords) : 0.25));
    }
    List<Neighbour> picked = neighbours.values().stream().filter(n -> weight.containsKey(n.key()))
        .sorted(Comparator.comparingDouble((Neighbour n) -> -weight.get(n.key()))).limit(12).toList();

    BooleanQuery.Builder mq = new BooleanQuery.Builder();
    for (String key : seeds.keySet()) {
      mq.add(new BoostQuery(new ConstantScoreQuery(new TermQuery(new Term(F_MENTIONS, key))),
          idf.get(key).floatValue()), BooleanClause.Occur.SHOULD);
    }
    for (Neighbour n : picked) {
      mq.add(new BoostQuery(new ConstantScoreQuery(new TermQuery(new Term(F_MENTIONS, n.key()))),
          weight.get(n.key()).floatValue()), BooleanClause.Occur.SHOULD);
    }
    BooleanQuery q = new BooleanQuery.Builder().add(mq.build(), BooleanClause.Occur.MUST)
        .add(chunkFilter(tenant), BooleanClause.Occur.FILTER).build();
    TopDocs hits = s.search(q, fetch);
    List<Integer> docs = new ArrayList<>();
    Map<Integer, List<String>> paths = new HashMap<>();
    Map<String, Neighbour> byKey = new HashMap<>();
    for (Neighbour n : picked) byKey.put(n.key(), n);
    for (ScoreDoc sd : hits.scoreDocs) {
      docs.add(sd.doc);
      Document d = stored.document(sd.doc);
      List<String> p = new ArrayList<>();
      for (IndexableField f : d.getFields(F_MENTIONS)) {
        String m = f.stringValue();
        if (seeds.containsKey(m)) p.add("question -> " + seeds.get(m));
        else if (byKey.containsKey(m)) p.add(byKey.get(m).path());
      }
      paths.put(sd.doc, p);
    }
    return new GraphHits(docs, paths, List.copyOf(seeds.values()));
  }

  /** Relations that touch an entity, for answers: "Lucene -[is a]-> search library". */
  public List<String> facts(String tenant, List<String> entityNames, int limit) throws IOException {
    if (entityNames.isEmpty()) return List.of();
    IndexSearcher s = searchers.acquire();
    try {
      List<BytesRef> refs = entityNames.stream()
          .map(n -> new BytesRef(n.toLowerCase(java.util.Locale.ROOT))).toList();
      BooleanQuery q = new BooleanQuery.Builder()
          .add(new BooleanQuery.Builder()
              .add(new TermInSetQuery(F_SRC, refs), BooleanClause.Occur.SHOULD)
              .add(new TermInSetQuery(F_DST, refs), BooleanClause.Occur.SHOULD)
              .setMinimumNumberShouldMatch(1).build(), BooleanClause.Occur.MUST)
          .add(new TermQuery(new Term(F_REL, GraphExtractor.CO_OCCURS)), BooleanClause.Occur.MUST_NOT)
          .add(typeTenantFilter(T_EDGE, tenant), BooleanClause.Occur.FILTER).build();
      List<String> out = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      StoredFields stored = s.storedFields();
      for (ScoreDoc sd : s.search(q, 200).scoreDocs) {
        Document d = stored.document(sd.doc);
        String f = d.get(F_SRC_NAME) + " -[" + d.get(F_REL) + "]-> " + d.get(F_DST_NAME);
        if (seen.add(f.toLowerCase(java.util.Locale.ROOT))) out.add(f);
        if (out.size() >= limit) break;
      }
      return out;
    } finally {
      searchers.release(s);
    }
  }

  // ------------------------------------------------------------------------------------------ inspection

  public Stats stats() throws IOException {
    IndexSearcher s = searchers.acquire();
    try {
      return new Stats(count(s, T_DOC), count(s, T_CHUNK), count(s, T_ENTITY), count(s, T_EDGE));
    } finally {
      searchers.release(s);
    }
  }

  private static long count(IndexSearcher s, String type) throws IOException {
    return s.count(new TermQuery(new Term(F_TYPE, type)));
  }

  public boolean isEmpty() throws IOException {
    return stats().documents() == 0;
  }

  /** The stored chunks of one document, in order; empty when absent. */
  public List<StoredChunk> chunks(String tenant, String documentId) throws IOException {
    IndexSearcher s = searchers.acquire();
    try {
      BooleanQuery q = new BooleanQuery.Builder()
          .add(new TermQuery(new Term(F_DOC_KEY, docKey(tenant, documentId))), BooleanClause.Occur.MUST)
          .add(new TermQuery(new Term(F_TYPE, T_CHUNK)), BooleanClause.Occur.FILTER).build();
      List<StoredChunk> out = new ArrayList<>();
      StoredFields stored = s.storedFields();
      for (ScoreDoc sd : s.search(q, 10_000).scoreDocs) {
        Document d = stored.document(sd.doc);
        out.add(new StoredChunk(d.get(F_DOCUMENT_ID), d.get(F_CHUNK_ID), d.getField(F_CHUNK_NO).numericValue()
            .intValue(), d.get(F_TEXT)));
      }
      out.sort(Comparator.comparingInt(StoredChunk::chunkNo));
      return out;
    } finally {
      searchers.release(s);
    }
  }

  /** The chunk count the document record promises; -1 when the document is absent. */
  public int recordedChunkCount(String tenant, String documentId) throws IOException {
    IndexSearcher s = searchers.acquire();
    try {
      BooleanQuery q = new BooleanQuery.Builder()
          .add(new TermQuery(new Term(F_DOC_KEY, docKey(tenant, documentId))), BooleanClause.Occur.MUST)
          .add(new TermQuery(new Term(F_TYPE, T_DOC)), BooleanClause.Occur.FILTER).build();
      TopDocs td = s.search(q, 2);
      if (td.scoreDocs.length == 0) return -1;
      if (td.scoreDocs.length > 1) throw new IllegalStateException("two records for " + documentId);
      return s.storedFields().document(td.scoreDocs[0].doc).getField(F_CHUNKS).numericValue().intValue();
    } finally {
      searchers.release(s);
    }
  }

  /** Every (tenant, document id) the store holds. */
  public List<String[]> documents() throws IOException {
    IndexSearcher s = searchers.acquire();
    try {
      List<String[]> out = new ArrayList<>();
      StoredFields stored = s.storedFields();
      for (ScoreDoc sd : s.search(new TermQuery(new Term(F_TYPE, T_DOC)), Integer.MAX_VALUE - 1).scoreDocs) {
        Document d = stored.document(sd.doc);
        out.add(new String[] {d.get(F_TENANT), d.get(F_DOCUMENT_ID)});
      }
      return out;
    } finally {
      searchers.release(s);
    }
  }

  @Override
  public void close() throws IOException {
    writeLock.lock();
    try {
      searchers.close();
      if (writer.isOpen()) writer.close();   // commitOnClose is off: nothing uncommitted is published
      dir.close();
    } finally {
      writeLock.unlock();
    }
  }

}
