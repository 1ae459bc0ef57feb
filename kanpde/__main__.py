from kanpde.app.cli import main

main()
