package ai.companion.node.cli;

import ai.companion.node.cluster.ClusterKeys;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code companion cluster keys --out DIR}. */
@Command(name = "cluster", description = "Cluster security.", subcommands = ClusterCommand.Keys.class)
public class ClusterCommand implements Runnable {

  @picocli.CommandLine.Spec
  picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing subcommand");
  }

  @Command(name = "keys", description = "Make the cluster's CA, a node certificate (PKCS12, keytool) and a cluster "
      + "secret. Copy the folder to DATA_DIR/tls on every node. Run again on the same folder for another node "
      + "certificate from the same CA.")
  public static class Keys implements Callable<Integer> {
    @Option(names = "--out", required = true, description = "Folder to write (e.g. ~/.companion/tls).")
    Path out;

    @Option(names = "--node-name", description = "Common name of the node certificate (default: companion-node).")
    String nodeName;

    @Option(names = "--san", split = ",", description = "Extra subject alternative names (IPs or host names).")
    List<String> sans = List.of();

    @Override
    public Integer call() {
      try {
        for (Path p : new ClusterKeys(Path.of(CliSupport.expandHome(out.toString())), nodeName, sans).generate()) {
          System.out.println("wrote " + p);
        }
        System.out.println("keep ca.p12 safe; copy node.p12, trust.p12, store.pass and cluster.secret to DATA_DIR/tls on every node");
        return 0;
      } catch (Exception e) {
        System.err.println("companion cluster keys: " + e.getMessage());
        return 1;
      }
    }
  }
}
