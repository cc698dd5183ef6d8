from voxroom.cli import main

main()
