from kapsec.cli import main

main()
