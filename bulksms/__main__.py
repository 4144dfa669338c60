from bulksms.cli import main

main()
