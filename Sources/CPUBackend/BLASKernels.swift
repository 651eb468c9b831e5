import COpenBLAS

/// Which kernels OpenBLAS runs on this machine. OpenBLAS picks them once, when it loads, from a
/// table of CPU models; on a model newer than the table (Debian's 0.3.21 does not know Intel's
/// model 207, for one) it falls back to its generic `Prescott` kernels, which run matrix
/// products several times slower than the CPU allows. Every figure of `--execute` depends on
/// this, so it is named beside them, and a fallback is warned about.
public enum BLASKernels {
  /// OpenBLAS's name for the kernels it chose (`SkylakeX`, `Haswell`, `Prescott`, …).
  public static var coreName: String { String(cString: openblas_get_corename()) }

  /// The kernels the CPU could run, by its vector extensions: `SkylakeX` with AVX-512,
  /// `Haswell` with AVX2, nil without either.
  public static var capableCoreName: String? {
    switch copenblas_vector_level() {
    case 2: "SkylakeX"
    case 1: "Haswell"
    default: nil
    }
  }

  /// A warning when OpenBLAS runs its generic kernels on a CPU with AVX2 or AVX-512, naming the
  /// environment setting that fixes it (read when OpenBLAS loads, so it must be set before the
  /// command starts); nil when the kernels match the CPU.
  public static var fallbackWarning: String? {
    guard coreName == "Prescott", let capable = capableCoreName else { return nil }
    return "warning: OpenBLAS did not recognise this CPU and runs its generic Prescott kernels, "
      + "several times slower than this CPU allows; run with OPENBLAS_CORETYPE=\(capable) "
      + "in the environment"
  }
}
