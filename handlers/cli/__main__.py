from handlers.cli.main import main

main()
