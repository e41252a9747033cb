// The affdeploy benchmark app. `benchcore` is plain Java (no Android imports) so CI can compile and
// unit-test the statistics, argument parsing and JSON writing with a bare JDK; `app` is the Android
// application that plugs ExecuTorch and ONNX Runtime into it.
pluginManagement {
    repositories {
        google() // the Android Gradle plugin is only published here
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral() // org.pytorch:executorch-android, com.microsoft.onnxruntime:onnxruntime-android
    }
}

rootProject.name = "affdeploy-bench"
include(":benchcore", ":app")
