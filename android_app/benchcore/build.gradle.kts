// Plain Java: the benchmark logic that CI compiles and tests without the Android SDK
// (tests/test_android_app.py does the same with javac and JUnit from Debian's packages).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}
