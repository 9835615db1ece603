package ai.companion.node.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Makes the cluster's keys with the JDK's own {@code keytool}: a CA ({@code ca.p12}, kept to sign more node
 * certificates), a node key and certificate signed by it ({@code node.p12}), the CA certificate alone
 * ({@code trust.p12}), the store password ({@code store.pass}) and a random cluster secret ({@code cluster.secret}).
 * Run again on the same folder, it keeps the CA and secret and issues a fresh node certificate.
 */
public final class ClusterKeys {

  public static final String CLUSTER_SECRET = "cluster.secret";
  private static final int VALIDITY_DAYS = 3650;

  private final Path out;
  private final String nodeName;
  private final Set<String> subjectAltNames = new LinkedHashSet<>(List.of("dns:localhost", "ip:127.0.0.1"));

  public ClusterKeys(Path out, String nodeName, List<String> extraSans) {
    this.out = out;
    this.nodeName = nodeName == null || nodeName.isBlank() ? "companion-node" : nodeName;
    for (String san : extraSans) {
      String s = san.trim();
      if (s.isEmpty()) continue;
      subjectAltNames.add(s.matches("[0-9.]+|.*:.*:.*") ? "ip:" + s : "dns:" + s);
    }
  }

  /** Writes the files; returns the paths written. */
  public List<Path> generate() throws IOException, InterruptedException {
    Files.createDirectories(out);
    List<Path> written = new ArrayList<>();
    Path passFile = out.resolve(EventBusTls.STORE_PASS);
    if (!Files.exists(passFile)) {
      writePrivate(passFile, randomHex(24));
      written.add(passFile);
    }
    String pass = Files.readString(passFile).strip();
    Path secretFile = out.resolve(CLUSTER_SECRET);
    if (!Files.exists(secretFile)) {
      writePrivate(secretFile, randomHex(32));
      written.add(secretFile);
    }
    Path ca = out.resolve(EventBusTls.CA_P12);
    Path node = out.resolve(EventBusTls.NODE_P12);
    Path trust = out.resolve(EventBusTls.TRUST_P12);
    Path tmp = Files.createTempDirectory(out, ".keys");
    try {
      if (!Files.exists(ca)) {
        keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
            "-dname", "CN=AI-Companion cluster CA", "-validity", String.valueOf(VALIDITY_DAYS),
            "-ext", "bc:c=ca:true", "-ext", "ku:c=keyCertSign,cRLSign",
            "-keystore", ca.toString(), "-storetype", "PKCS12", "-storepass", pass);
        written.add(ca);
      }
      Path caCert = tmp.resolve("ca.crt");
      keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pass, "-file", caCert.toString());
      Path newTrust = tmp.resolve("trust.p12");
      keytool("-importcert", "-noprompt", "-alias", "ca", "-file", caCert.toString(),
          "-keystore", newTrust.toString(), "-storetype", "PKCS12", "-storepass", pass);
      Path newNode = tmp.resolve("node.p12");
      keytool("-genkeypair", "-alias", "node", "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
          "-dname", "CN=" + nodeName, "-validity", String.valueOf(VALIDITY_DAYS),
          "-keystore", newNode.toString(), "-storetype", "PKCS12", "-storepass", pass);
      Path csr = tmp.resolve("node.csr");
      keytool("-certreq", "-alias", "node", "-keystore", newNode.toString(), "-storepass", pass, "-file", csr.toString());
      Path signed = tmp.resolve("node.crt");
      keytool("-gencert", "-alias", "ca", "-keystore", ca.toString(), "-storepass", pass, "-infile", csr.toString(),
          "-outfile", signed.toString(), "-rfc", "-validity", String.valueOf(VALIDITY_DAYS),
          "-ext", "san=" + String.join(",", subjectAltNames), "-ext", "eku=serverAuth,clientAuth",
          "-ext", "ku:c=digitalSignature,keyAgreement");
      keytool("-importcert", "-noprompt", "-alias", "ca", "-file", caCert.toString(),
          "-keystore", newNode.toString(), "-storepass", pass);
      keytool("-importcert", "-noprompt", "-alias", "node", "-file", signed.toString(),
          "-keystore", newNode.toString(), "-storepass", pass);
      // the node store must hold only the node key: a trusted CA entry would make it a second key candidate
      keytool("-delete", "-alias", "ca", "-keystore", newNode.toString(), "-storepass", pass);
      Files.move(newNode, node, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      Files.move(newTrust, trust, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      Files.copy(caCert, out.resolve(EventBusTls.CA_CERT_PEM), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      written.add(node);
      written.add(trust);
    } finally {
      try (var files = Files.list(tmp)) {
        for (Path p : files.toList()) Files.deleteIfExists(p);
      }
      Files.deleteIfExists(tmp);
    }
    return written;
  }

  private static String randomHex(int bytes) {
    byte[] b = new byte[bytes];
    new SecureRandom().nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  private static void writePrivate(Path file, String text) throws IOException {
    Files.writeString(file, text + "\n", StandardCharsets.UTF_8);
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException ignored) {
      // not a POSIX file system: nothing more we can do
    }
  }

  private static void keytool(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("keytool " + args[0] + " did not finish within 60 s");
    }
    if (p.exitValue() != 0) throw new IOException("keytool " + args[0] + " failed: " + output.strip());
  }
}
