from animalsnd.cli import main

main()
