// The screen: the bundled picture, a model picker, top-5 classes, and p50 latency per compute unit.
import SwiftUI

struct ContentView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        NavigationStack {
            List {
                Section {
                    Image(uiImage: UIImage(named: "sample") ?? UIImage())
                        .resizable()
                        .interpolation(.none)
                        .scaledToFit()
                        .frame(maxHeight: 180)
                    if model.entries.isEmpty {
                        Text("No models bundled. Run `affdeploy ios-assets` and rebuild.")
                    } else {
                        Picker("Model", selection: $model.selected) {
                            ForEach(Array(model.entries.enumerated()), id: \.offset) { index, entry in
                                Text("\(entry.id) · \(entry.target) · \(entry.precision)").tag(index)
                            }
                        }
                    }
                }
                Section("Top-5") {
                    Button("Classify", action: model.classify).disabled(model.busy || model.entries.isEmpty)
                    ForEach(Array(model.predictions.enumerated()), id: \.offset) { _, prediction in
                        HStack {
                            Text(prediction.label)
                            Spacer()
                            Text(String(format: "%.1f%%", prediction.score * 100)).monospacedDigit()
                        }
                    }
                }
                Section("Latency (p50 of 20 runs)") {
                    Button("Measure every compute unit", action: model.measureComputeUnits)
                        .disabled(model.busy || model.entries.isEmpty)
                    ForEach(model.latencies) { row in
                        HStack {
                            Text(row.title)
                            Spacer()
                            Text(String(format: "%.2f ms", row.p50Ms)).monospacedDigit()
                            Text(String(format: "load %.0f ms", row.loadMs)).foregroundStyle(.secondary).font(.caption)
                        }
                    }
                }
                Section {
                    HStack {
                        if model.busy { ProgressView() }
                        Text(model.status).font(.footnote)
                    }
                }
            }
            .navigationTitle("AFFBench")
        }
    }
}
