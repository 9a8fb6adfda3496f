from siteclass.cli import main

main()
