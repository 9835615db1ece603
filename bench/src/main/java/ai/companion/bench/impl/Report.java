package ai.companion.bench.impl;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/** One benchmark run as markdown: a heading, how it ran (command, machine, load), a table, notes. */
public final class Report {
  private final String title;
  private final String command;
  private final String loadAtStart;
  private final List<String> header = new ArrayList<>();
  private final List<List<String>> rows = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();

  public Report(String title, String command) {
    this.title = title;
    this.command = command;
    this.loadAtStart = Machine.loadAverage();
  }

  public Report columns(String... names) {
    header.clear();
    header.addAll(List.of(names));
    return this;
  }

  public synchronized Report row(String... cells) {
    rows.add(List.of(cells));
    return this;
  }

  public synchronized Report note(String text) {
    notes.add(text);
    return this;
  }

  public synchronized String markdown() {
    StringBuilder sb = new StringBuilder();
    sb.append("### ").append(title).append("\n\n");
    sb.append("`").append(command).append("`  \n");
    sb.append(ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)).append(", ")
        .append(Machine.cores()).append(" cores, Java ").append(System.getProperty("java.version"))
        .append(", load average (1/5/15 min) at start ").append(loadAtStart).append(", at end ")
        .append(Machine.loadAverage()).append("\n\n");
    sb.append("| ").append(String.join(" | ", header)).append(" |\n");
    sb.append("|").append("---|".repeat(header.size())).append("\n");
    for (List<String> r : rows) sb.append("| ").append(String.join(" | ", r)).append(" |\n");
    if (!notes.isEmpty()) {
      sb.append("\n");
      for (String n : notes) sb.append("- ").append(n).append("\n");
    }
    return sb.append("\n").toString();
  }

  /** Prints the table, and appends it to {@code out} when given. */
  public void emit(PrintStream stdout, Path out) throws IOException {
    String md = markdown();
    stdout.print(md);
    stdout.flush();
    if (out != null) {
      Path parent = out.toAbsolutePath().getParent();
      if (parent != null) Files.createDirectories(parent);
      Files.writeString(out, md, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }
  }
}
