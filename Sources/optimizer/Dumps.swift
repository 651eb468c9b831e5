import BatchIR
import BatchPasses
import Foundation
import GraphvizDump

/// The files of `--dump-dir`: for every stage `NN-stage.dg`, `.dot` and the picture, and at the
/// end `index.html`, the page to browse them (see `DumpPage`).
struct DumpWriter {
  let directory: String
  let format: DumpFormat
  let nodeLimit: Int
  private var page: DumpPage

  init(directory: String, format: DumpFormat, nodeLimit: Int, title: String, pipeline: String) {
    self.directory = directory
    self.format = format
    self.nodeLimit = nodeLimit
    page = DumpPage(title: title, pipeline: pipeline, format: format)
  }

  /// Draws `module` in `view` as stage `stage` (`01-fsm-batch`) and queues its files.
  mutating func add(
    _ module: Module, stage: String, title: String, view: DumpView,
    statistics: [(name: String, value: Double)], to outputs: inout PendingOutputs
  ) throws(Diagnostic) {
    outputs.addDirectory(directory)
    let base = (directory as NSString).appendingPathComponent(stage)
    outputs.add(base + ".dg", DGPrinter.print(module))
    do {
      let picture = try StagePicture.fitted(
        module, title: title, view: view, nodeLimit: nodeLimit,
        id: "s" + stage.prefix { $0 != "-" })
      outputs.add(base + ".dot", try GraphvizRenderer.dot(picture.graph))
      outputs.add(
        base + "." + format.rawValue,
        format == .svg ? picture.svg : try GraphvizRenderer.render(picture.graph, format: format))
      page.stages.append(
        DumpPage.Stage(
          stem: stage, title: title, svg: picture.svg,
          statistics: statistics.map { ($0.name, jsonNumber($0.value)) }))
    } catch {
      throw Diagnostic(file: base, location: .unknown, message: "Graphviz: \(error.description)")
    }
  }

  /// Queues `index.html`.
  func finish(to outputs: inout PendingOutputs) {
    outputs.add((directory as NSString).appendingPathComponent("index.html"), page.html())
  }
}
