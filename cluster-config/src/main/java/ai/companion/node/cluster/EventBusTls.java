package ai.companion.node.cluster;

import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.PfxOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Event-bus TLS with client authentication against the cluster's own CA. Keys live in one folder, either as PKCS12
 * ({@code node.p12} with the node key and chain, {@code trust.p12} with the CA certificate, {@code store.pass}) as
 * written by {@code companion cluster keys}, or as PEM ({@code node.key}, {@code node.crt}, {@code ca.crt}).
 */
public final class EventBusTls {
  private EventBusTls() {}

  public static final String NODE_P12 = "node.p12";
  public static final String TRUST_P12 = "trust.p12";
  public static final String CA_P12 = "ca.p12";
  public static final String STORE_PASS = "store.pass";
  public static final String NODE_KEY_PEM = "node.key";
  public static final String NODE_CERT_PEM = "node.crt";
  public static final String CA_CERT_PEM = "ca.crt";

  /** What was found in a key folder. */
  public enum Kind { PKCS12, PEM }

  /** Which kind of keys the folder holds, if any; half a set is an error naming what is missing. */
  public static Optional<Kind> detect(Path dir) {
    boolean p12 = Files.isRegularFile(dir.resolve(NODE_P12)) || Files.isRegularFile(dir.resolve(TRUST_P12));
    boolean pem = Files.isRegularFile(dir.resolve(NODE_KEY_PEM)) || Files.isRegularFile(dir.resolve(NODE_CERT_PEM));
    if (p12) {
      requireFile(dir, NODE_P12);
      requireFile(dir, TRUST_P12);
      return Optional.of(Kind.PKCS12);
    }
    if (pem) {
      requireFile(dir, NODE_KEY_PEM);
      requireFile(dir, NODE_CERT_PEM);
      requireFile(dir, CA_CERT_PEM);
      return Optional.of(Kind.PEM);
    }
    return Optional.empty();
  }

  private static void requireFile(Path dir, String name) {
    if (!Files.isRegularFile(dir.resolve(name))) {
      throw new IllegalArgumentException("TLS folder " + dir + " lacks " + name
          + " (make a complete set with: ./companion cluster keys --out " + dir + ")");
    }
  }

  /** Turns TLS on in {@code options} with the keys of {@code dir}; {@code password} null reads {@code store.pass}. */
  public static EventBusOptions apply(EventBusOptions options, Path dir, Kind kind, String password) throws IOException {
    options.setSsl(true).setClientAuth(ClientAuth.REQUIRED);
    if (kind == Kind.PEM) {
      return options
          .setKeyCertOptions(new PemKeyCertOptions().setKeyPath(dir.resolve(NODE_KEY_PEM).toString())
              .setCertPath(dir.resolve(NODE_CERT_PEM).toString()))
          .setTrustOptions(new PemTrustOptions().addCertPath(dir.resolve(CA_CERT_PEM).toString()));
    }
    String pass = password != null ? password : readPassword(dir);
    return options
        .setKeyCertOptions(new PfxOptions().setPath(dir.resolve(NODE_P12).toString()).setPassword(pass))
        .setTrustOptions(new PfxOptions().setPath(dir.resolve(TRUST_P12).toString()).setPassword(pass));
  }

  static String readPassword(Path dir) throws IOException {
    Path file = dir.resolve(STORE_PASS);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("TLS folder " + dir + " has PKCS12 stores but no " + STORE_PASS
          + " (or pass --tls-password)");
    }
    return Files.readString(file).strip();
  }
}
