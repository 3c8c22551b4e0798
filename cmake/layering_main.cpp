// The entry point of the layering checks (userspace/CMakeLists.txt): each links one stage library
// whole, so the linker resolves every call the stage makes. It never runs.
int main() { return 0; }
