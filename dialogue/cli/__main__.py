from dialogue.cli.main import main

main()
