package ai.companion.worker.impl;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import java.util.EnumSet;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses ONNX Runtime's execution provider at run time: CUDA, then CoreML, then DirectML, when the runtime in
 * use has them (the plain {@code onnxruntime} jar has only the CPU; {@code onnxruntime_gpu} adds CUDA), else the CPU. System property {@value #PROVIDER_PROPERTY} forces a choice; a forced provider that cannot be added
 * falls back to the CPU with a warning. The winner is logged once per process, each miss at DEBUG.
 */
public final class ExecutionProviders {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutionProviders.class);
  public static final String PROVIDER_PROPERTY = "companion.onnx.provider";
  private static final AtomicBoolean LOGGED = new AtomicBoolean();

  private ExecutionProviders() {}

  /**
   * Adds the chosen provider to {@code options}.
   *
   * @param requested {@code auto}, {@code cpu}, {@code cuda}, {@code coreml} or {@code directml}; the system
   *     property wins
   * @return the provider in use, lower case ({@code cpu}, {@code cuda}, {@code coreml}, {@code directml})
   */
  public static String configure(OrtSession.SessionOptions options, String requested) {
    String forced = System.getProperty(PROVIDER_PROPERTY);
    String want = (forced != null && !forced.isBlank() ? forced : requested == null ? "auto" : requested)
        .trim().toLowerCase(Locale.ROOT);
    EnumSet<OrtProvider> available = OrtEnvironment.getAvailableProviders();
    String why;
    String chosen;
    switch (want) {
      case "cpu" -> { chosen = "cpu"; why = "requested"; }
      case "cuda", "coreml", "directml" -> {
        String reason = tryAdd(options, want, available);
        if (reason == null) { chosen = want; why = "requested"; }
        else {
          chosen = "cpu";
          why = want + " was requested but " + reason;
          LOG.warn("Execution provider {} unavailable ({}); using the CPU", want, reason);
        }
      }
      case "auto" -> {
        String cuda = tryAdd(options, "cuda", available);
        if (cuda == null) { chosen = "cuda"; why = "CUDA is available"; }
        else {
          LOG.debug("CUDA execution provider not used: {}", cuda);
          String coreml = tryAdd(options, "coreml", available);
          if (coreml == null) { chosen = "coreml"; why = "CoreML is available"; }
          else {
            LOG.debug("CoreML execution provider not used: {}", coreml);
            String dml = tryAdd(options, "directml", available);
            if (dml == null) { chosen = "directml"; why = "DirectML is available"; }
            else {
              LOG.debug("DirectML execution provider not used: {}", dml);
              chosen = "cpu";
              why = "no accelerator provider in this ONNX Runtime (available: " + available + ")";
            }
          }
        }
      }
      default -> throw new IllegalArgumentException("unknown execution provider '" + want
          + "' (expected auto, cpu, cuda, coreml or directml)");
    }
    if (LOGGED.compareAndSet(false, true)) {
      LOG.info("ONNX Runtime execution provider: {} ({})", chosen, why);
    } else {
      LOG.debug("ONNX Runtime execution provider: {} ({})", chosen, why);
    }
    return chosen;
  }

  /** Adds the provider; returns null on success, else why not. */
  private static String tryAdd(OrtSession.SessionOptions options, String name, EnumSet<OrtProvider> available) {
    OrtProvider p = switch (name) {
      case "cuda" -> OrtProvider.CUDA;
      case "coreml" -> OrtProvider.CORE_ML;
      default -> OrtProvider.DIRECT_ML;
    };
    if (!available.contains(p)) return "not in this ONNX Runtime build";
    try {
      switch (p) {
        case CUDA -> options.addCUDA(0);
        case CORE_ML -> options.addCoreML();
        default -> options.addDirectML(0);
      }
      return null;
    } catch (OrtException | RuntimeException e) {
      LOG.debug("Adding execution provider {} failed", name, e);
      return "adding it failed: " + e.getMessage();
    }
  }
}
