import sys

try:
    from assay.cli import main
except KeyboardInterrupt:  # before main() could take over: end as it would, without a traceback
    sys.stderr.write("assay: interrupted\n")
    sys.exit(130)

if __name__ == "__main__":
    main()
