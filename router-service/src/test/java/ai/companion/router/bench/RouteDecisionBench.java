package ai.companion.router.bench;

import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs {@link RouteDecisionBenchmark}. From the repository root:
 * <pre>
 * mvn -o -q -pl router-service test-compile dependency:build-classpath -Dmdep.outputFile=target/test-cp.txt -Dmdep.includeScope=test
 * java -cp router-service/target/test-classes:router-service/target/classes:$(cat router-service/target/test-cp.txt) \
 *   -Dcompanion.shared.models=../shared/models ai.companion.router.bench.RouteDecisionBench [regexp]
 * </pre>
 */
public final class RouteDecisionBench {
  private RouteDecisionBench() {}

  public static void main(String[] args) throws Exception {
    String include = args.length > 0 ? args[0] : RouteDecisionBenchmark.class.getSimpleName();
    String models = System.getProperty("companion.shared.models");
    OptionsBuilder o = new OptionsBuilder();
    o.include(include);
    if (models != null) o.jvmArgsAppend("-Dcompanion.shared.models=" + models);
    new Runner(o.build()).run();
  }
}
