plugins {
    id("com.android.application")
}

// ExecuTorch's runtime must match the executorch version that exported the .pte files
// (pyproject.toml pins executorch==1.5.1; Maven Central has executorch-android 1.5.1).
val executorchVersion = "1.5.1"
val onnxruntimeVersion = "1.31.0"
// LiteRT (the TFLite runtime) of the same release as the ai-edge-litert 2.3.0 that checks parity on the host.
val litertVersion = "2.3.0"

android {
    namespace = "org.affdeploy.bench"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.affdeploy.bench"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // the ABIs the ExecuTorch AAR ships
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        buildConfigField("String", "ONNXRUNTIME_VERSION", "\"$onnxruntimeVersion\"")
        buildConfigField("String", "LITERT_VERSION", "\"$litertVersion\"")
    }

    buildTypes {
        release {
            // Benchmarks run the release build; it is signed with the debug key so that
            // `adb install` works without a keystore. Not for distribution.
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // model files are copied out of the APK at first use; storing them uncompressed keeps that fast
        noCompress += listOf("pte", "onnx", "tflite")
    }
}

dependencies {
    implementation(project(":benchcore"))
    implementation("org.pytorch:executorch-android:$executorchVersion")
    implementation("com.microsoft.onnxruntime:onnxruntime-android:$onnxruntimeVersion")
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
}
