from maorders.cli import main

main()
