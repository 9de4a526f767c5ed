from riskaudit.cli import main

main()
