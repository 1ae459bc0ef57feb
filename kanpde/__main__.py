from kanpde.app.main import main

main()
