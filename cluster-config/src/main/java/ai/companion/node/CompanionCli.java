package ai.companion.node;

import ai.companion.node.cli.ClusterCommand;
import ai.companion.node.cli.IngestCommand;
import ai.companion.node.cli.ModelCommand;
import ai.companion.node.cli.ModelsCommand;
import ai.companion.node.cli.StartCommand;
import ai.companion.node.impl.ConfigDefaults;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help;
import picocli.CommandLine.Option;

/**
 * The {@code companion} command line. Every flag also comes from {@code COMPANION_<FLAG>} and from a config file
 * ({@code --config FILE}, JSON or properties); the command line wins, then the environment, then the file.
 */
@Command(name = "companion", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT, version = "AI-Companion 0.1.0",
    description = "Self-hosted AI assistant cluster.",
    subcommands = {StartCommand.class, ModelCommand.class, ModelsCommand.class, IngestCommand.class,
        ClusterCommand.class, CommandLine.HelpCommand.class})
public class CompanionCli implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing command: try 'companion start'");
  }

  @Option(names = "--config", scope = CommandLine.ScopeType.INHERIT, paramLabel = "FILE",
      description = "Config file (JSON or properties) with flag values, e.g. {\"http-port\": 8081}.")
  Path config;

  private static final Map<String, List<String>> GROUPS = new LinkedHashMap<>();

  static {
    GROUPS.put("Node", List.of("start"));
    GROUPS.put("Models", List.of("model", "models"));
    GROUPS.put("Knowledge", List.of("ingest"));
    GROUPS.put("Cluster", List.of("cluster"));
    // `./companion bench` never reaches this class: the launcher script runs the bench module's own main
    GROUPS.put("Other", List.of("help"));
  }

  public static CommandLine commandLine(Map<String, String> env, Map<String, String> file) {
    CommandLine cli = new CommandLine(new CompanionCli());
    // handled by the launcher script before this class runs, listed here so that --help tells of them
    cli.getCommandSpec().usageMessage().footer("%nAlso: ./companion bench --help (decode, concurrency, clients,"
        + " cluster benchmarks); ./companion test (the test suite).");
    cli.setDefaultValueProvider(new ConfigDefaults(env, file));
    cli.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_COMMAND_LIST, CompanionCli::groupedCommands);
    return cli;
  }

  private static String groupedCommands(Help help) {
    Map<String, Help> subs = help.subcommands();
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, List<String>> g : GROUPS.entrySet()) {
      StringBuilder lines = new StringBuilder();
      for (String name : g.getValue()) {
        Help h = subs.get(name);
        if (h == null) continue;
        String[] desc = h.commandSpec().usageMessage().description();
        String first = name.equals("help") ? "Show the help of a command."
            : desc.length > 0 ? String.format(desc[0]).strip() : "";
        lines.append(String.format("  %-10s %s%n", name, first));
      }
      if (lines.length() > 0) sb.append(' ').append(g.getKey()).append(":\n").append(lines);
    }
    return sb.toString();
  }

  public static int run(String[] args, Map<String, String> env) {
    Map<String, String> file;
    try {
      file = ConfigDefaults.readFile(ConfigDefaults.configFile(args, env));
    } catch (IOException e) {
      System.err.println("companion: " + e.getMessage());
      return 2;
    }
    return commandLine(env, file).execute(args);
  }

  public static void main(String[] args) {
    System.exit(run(args, System.getenv()));
  }
}
