from synapse.cli import main

main()
