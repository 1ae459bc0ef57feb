from kanpde.bench.cli import main

main()
